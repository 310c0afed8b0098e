import { type RecordReportDeps, recordStatus } from '../commands/record-report.ts';
import type { CommandDeps } from '../commands/deps.ts';
import { DomainError } from '../domain/errors.ts';
import type { RunningProcess } from './process.ts';

/**
 * The durable recorder: every status a worker publishes becomes an event, whether or not a
 * request still waits for it. A failed append throws, so the bus delivers the status again.
 */
export function startStatusRecorder(deps: RecordReportDeps & Pick<CommandDeps, 'bus'>): RunningProcess {
  return deps.bus.consumeStatuses(async (status) => {
    // The request's id, which the job carried to the worker and the worker sends back (older
    // workers send none).
    const correlationId = typeof status.correlationId === 'string' ? status.correlationId : `recorder-${status.executionId}`;
    try {
      await recordStatus(deps, status, correlationId);
    } catch (error) {
      // A status for an execution this store never queued (a container from another
      // deployment on a shared engine) can never be recorded: retrying it would loop for ever.
      if (error instanceof DomainError && error.code === 'ExecutionNotFound') {
        deps.log('warn', 'status for an unknown execution dropped', { executionId: status.executionId, status: status.type, correlationId });
        return;
      }
      throw error;
    }
  });
}
