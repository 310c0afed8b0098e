/**
 * The worker's Docker engine room: the ContainerRuntime port over dockerode (pull, create, start,
 * stdin, wait, output, remove) and the reaper of containers no worker will finish.
 */
export { type DockerRuntimeOptions, createDockerRuntime } from './runtime.ts';
export type { PullPolicy } from './images.ts';
export { type OrphanCause, type ReapOptions, type ReapResult, type ReapedContainer, reapOrphans } from './reaper.ts';
