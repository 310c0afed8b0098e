import { DomainError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import type { Consumer } from '../ports/job-bus.ts';
import type { Platform } from '../platform.ts';
import { recordReport, reportFromStatus } from './record-report.ts';

/**
 * The durable recorder: every status a worker publishes becomes an event, whether or not a
 * request still waits for it. A failed append throws, so the bus delivers the status again.
 */
export function recordStatuses(platform: Platform, log: Logger): Consumer {
  return platform.bus.consumeStatuses(async (status) => {
    try {
      await recordReport(platform, status.executionId, reportFromStatus(status), `recorder-${status.executionId}`);
    } catch (error) {
      // A status for an execution this store never queued (a container from another
      // deployment on a shared engine) can never be recorded: retrying it would loop for ever.
      if (error instanceof DomainError && error.code === 'ExecutionNotFound') {
        log('warn', 'status for an unknown execution dropped', { executionId: status.executionId, status: status.type });
        return;
      }
      throw error;
    }
  });
}
