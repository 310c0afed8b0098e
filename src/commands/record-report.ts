import { type ExecutionCommand, type ExecutionReport, type ExecutionState, executionDecider } from '../domain/executions.ts';
import { executionStream } from '../domain/streams.ts';
import { isTerminal, statusOf } from '../../actors/execution.ts';
import type { StatusMessage } from '../ports/job-bus.ts';
import type { Platform } from '../platform.ts';
import { deterministicEventId } from './deterministic-id.ts';
import { handleCommand } from './handle-command.ts';
import { releaseSlots } from './slots.ts';

export function reportFromStatus(status: StatusMessage): ExecutionReport {
  switch (status.type) {
    case 'started':
      return { type: 'STARTED', workerId: status.workerId, containerId: status.containerId, at: status.at };
    case 'succeeded': {
      const { type: _, executionId: __, ...rest } = status;
      return { type: 'SUCCEEDED', ...rest };
    }
    case 'failed': {
      const { type: _, executionId: __, ...rest } = status;
      return { type: 'FAILED', ...rest };
    }
    case 'timedOut': {
      const { type: _, executionId: __, ...rest } = status;
      return { type: 'TIMED_OUT', ...rest };
    }
  }
}

/**
 * Records what a worker reported. Any number of processes may record the same report (the
 * recorder, the waiting request, a redelivery): the event id is derived from the report, and
 * the execution machine drops what changes nothing.
 */
export const recordReport = (platform: Platform, executionId: string, report: ExecutionReport, correlationId: string) =>
  decideExecution(platform, executionId, { type: 'RecordReport', report }, report.type, correlationId);

/** The deadline passed without an outcome: queued → failed, running → timedOut. */
export const expireExecution = (platform: Platform, executionId: string, now: Date, correlationId: string) =>
  decideExecution(platform, executionId, { type: 'ExpireExecution', now }, 'deadline', correlationId);

/** `fact` names what is recorded, so the same fact recorded twice gets the same event id. */
async function decideExecution(
  platform: Platform,
  executionId: string,
  command: ExecutionCommand,
  fact: string,
  correlationId: string,
): Promise<ExecutionState> {
  const id = await deterministicEventId(executionId, fact);
  const result = await handleCommand(platform.store, executionDecider, executionStream(executionId), command, {
    correlationId,
    newId: () => id,
  });
  await releaseWhenFinished(platform, executionId, result.state, correlationId);
  return result.state;
}

async function releaseWhenFinished(platform: Platform, executionId: string, state: ExecutionState, correlationId: string) {
  if (state.status !== 'present' || !isTerminal(statusOf(state.snapshot))) return;
  await releaseSlots(platform, state.queued.slotStreams, executionId, { correlationId, newId: platform.newId });
}
