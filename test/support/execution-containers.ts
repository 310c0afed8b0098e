/**
 * The containers that run (or ran) executions, with the execution each one is for: a container
 * created for an execution carries it in its `faasbox.execution` label; a pre-started one taken
 * by an execution is renamed after it (labels cannot change). Suites that look at what workers
 * run use this, so a pre-started run is seen like a cold one.
 */
import type Docker from 'dockerode';
import { executionOfContainerName } from '../../worker/docker/index.ts';

export type ExecutionContainer = Docker.ContainerInfo & { executionId: string; workerId: string };

/** Every execution's container on the engine, any state; `ofWorker` narrows by worker id. */
export async function executionContainers(docker: Docker, ofWorker: (workerId: string) => boolean = () => true): Promise<ExecutionContainer[]> {
  const listed = await docker.listContainers({ all: true, filters: { label: ['faasbox.worker'] } });
  return listed.flatMap((container) => {
    const executionId = executionOf(container);
    const workerId = container.Labels['faasbox.worker'] ?? '';
    return executionId !== null && ofWorker(workerId) ? [{ ...container, executionId, workerId }] : [];
  });
}

/** The execution a container ran: its label (created for it), or its name (a pre-started one it took); null for neither. */
export const executionOf = (container: Docker.ContainerInfo): string | null =>
  container.Labels['faasbox.execution'] ?? executionOfContainerName(container.Names[0]);
