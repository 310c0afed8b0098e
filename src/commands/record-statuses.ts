import type { Consumer } from '../ports/job-bus.ts';
import type { Platform } from '../platform.ts';
import { recordReport, reportFromStatus } from './record-report.ts';

/**
 * The durable recorder: every status a worker publishes becomes an event, whether or not a
 * request still waits for it. A failed append throws, so the bus delivers the status again.
 */
export function recordStatuses(platform: Platform): Consumer {
  return platform.bus.consumeStatuses(async (status) => {
    await recordReport(platform, status.executionId, reportFromStatus(status), `recorder-${status.executionId}`);
  });
}
