/**
 * Every container an engine made for an execution while a test ran, from the engine's own event
 * stream: a `create` labelled `faasbox.execution` (a cold start), or a `rename` to
 * `faasbox-<executionId>[-attempt-<n>]` (a pre-started container the execution took: it was
 * created before its execution was known, so only its new name tells,
 * worker/docker/container-config.ts). Listing
 * containers afterwards would miss nearly all of them, since each is removed right after its
 * run. An engine keeps no events across a restart and only its last few hundred at all, so the
 * stream is followed live and, when the engine goes away, followed again as soon as it answers,
 * from the last second seen (events seen twice are kept once).
 */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { executionOfContainerName } from '../../../worker/docker/index.ts';

const EXECUTION_LABEL = 'faasbox.execution';
/**
 * A later attempt of an execution (src/domain/retries.ts) is told on its container by this label
 * when it was created for it, by its name (`faasbox-<id>-attempt-<n>`) when it was pre-started;
 * the first attempt by neither.
 */
const ATTEMPT_LABEL = 'faasbox.attempt';
const ATTEMPT_IN_NAME = /-attempt-(\d+)$/;
const RECONNECT_MS = 100;

export type ExecutionContainerEvent = {
  executionId: string;
  attempt: number;
  containerId: string;
  how: 'created' | 'renamed';
};

export type ExecutionContainerRecorder = {
  events(): ExecutionContainerEvent[];
  /** Stops following; the events so far stay readable. */
  stop(): Promise<void>;
};

type EngineEvent = { id?: string; Action?: string; time?: number; Actor?: { Attributes?: Record<string, string> } };

export function recordExecutionContainers(docker: Docker): ExecutionContainerRecorder {
  const seen = new Set<string>();
  const recorded: ExecutionContainerEvent[] = [];
  let sinceSeconds = Math.floor(Date.now() / 1000);
  let stopped = false;
  let stream: Readable | null = null;

  const take = (event: EngineEvent) => {
    const attributes = event.Actor?.Attributes ?? {};
    if (event.time !== undefined) sinceSeconds = Math.max(sinceSeconds, event.time);
    const key = `${event.Action}:${event.id}`;
    if (event.id === undefined || seen.has(key)) return;
    seen.add(key);
    const executionId = event.Action === 'create' ? attributes[EXECUTION_LABEL] : event.Action === 'rename' ? executionOfContainerName(attributes.name) : null;
    if (!executionId) return;
    const attempt = Number(attributes[ATTEMPT_LABEL] ?? ATTEMPT_IN_NAME.exec(attributes.name ?? '')?.[1] ?? 1);
    recorded.push({ executionId, attempt, containerId: event.id, how: event.Action === 'create' ? 'created' : 'renamed' });
  };

  const followOnce = async () => {
    const opened = (await docker.getEvents({ since: sinceSeconds, filters: { type: ['container'], event: ['create', 'rename'] } })) as Readable;
    stream = opened;
    if (stopped) opened.destroy();
    let pending = '';
    await new Promise<void>((resolve) => {
      opened.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) take(JSON.parse(line) as EngineEvent);
      });
      opened.once('end', resolve);
      opened.once('close', resolve);
      opened.once('error', () => resolve());
    });
  };

  const following = (async () => {
    while (!stopped) {
      // An engine that is down refuses the connection: it is asked again until it is back.
      await followOnce().catch(() => undefined);
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  })();

  return {
    events: () => [...recorded],
    async stop() {
      stopped = true;
      stream?.destroy();
      await following;
    },
  };
}
