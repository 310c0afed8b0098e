/**
 * The worker's Docker engine room: the ContainerRuntime port over dockerode (pull, create, start,
 * the agent's go and report, remove), the pool of pre-started containers, and the reaper of
 * containers no worker will finish.
 */
export { type DockerRuntime, type DockerRuntimeOptions, createDockerRuntime } from './runtime.ts';
export type { PullPolicy } from './images.ts';
export type { PoolCounts, PrestartSettings } from './prestart-pool.ts';
export { type OrphanCause, type ReapOptions, type ReapResult, type ReapedContainer, reapOrphans } from './reaper.ts';
// The pieces of a pre-started container, for the benchmark's floor (bench/prestarted.ts).
export { containerConfig } from './container-config.ts';
/** Which execution a container ran, from its name: for tests that look at what a worker left. */
export { executionOfContainerName } from './container-config.ts';
export { prepareContainer, removeContainer } from './prepare.ts';
