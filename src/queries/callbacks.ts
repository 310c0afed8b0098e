import { readState } from '../commands/handle-command.ts';
import { type CallbackDelivery, callbackDecider } from '../domain/callbacks.ts';
import { callbackStream } from '../domain/streams.ts';
import type { QueryDeps } from './deps.ts';
import type { PresentExecution } from './executions.ts';

export type CallbackView = { url: string; state: 'pending' | 'delivered' | 'abandoned'; deliveries: CallbackDelivery[] } | null;

/** An execution's callback and its deliveries so far, read from its stream; null when it named none. */
export async function callbackView(deps: Pick<QueryDeps, 'store'>, execution: PresentExecution): Promise<CallbackView> {
  const url = execution.queued.callbackUrl;
  if (url === undefined) return null;
  const { state } = await readState(deps.store, callbackDecider, callbackStream(execution.queued.executionId));
  return { url, state: state.state, deliveries: state.deliveries };
}
