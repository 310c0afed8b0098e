/**
 * removeContainer (worker/docker/prepare.ts): Docker 20.10 can refuse a forced removal that races
 * the container's own exit and leave it "Removal In Progress" (seen in CI: the DELETE answered
 * 500 "Could not kill running container …, cannot remove - … is not running"); a second DELETE
 * removes it. The engine's answers are scripted here; the race itself is the engine's.
 */
import type Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { removeContainer } from '../worker/docker/prepare.ts';

const engineError = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

function scripted(...answers: (Error | null)[]) {
  let calls = 0;
  const container = {
    remove: async (options: unknown) => {
      assert.equal(options, { force: true, v: true });
      const answer = answers[calls++] ?? null;
      if (answer) throw answer;
    },
  } as unknown as Docker.Container;
  return { container, calls: () => calls };
}

const remove = suite('removeContainer');

remove('a removal the engine refused is asked again, and then done', async () => {
  const engine = scripted(engineError(500, 'Could not kill running container x, cannot remove - Container x is not running'), null);
  await removeContainer(engine.container);
  assert.is(engine.calls(), 2);
});

remove('a container already gone is not asked about again', async () => {
  const engine = scripted(engineError(404, 'No such container: x'));
  await removeContainer(engine.container);
  assert.is(engine.calls(), 1);
});

remove('an engine that keeps refusing is asked three times, and the caller is not failed', async () => {
  const engine = scripted(engineError(500, 'a'), engineError(500, 'b'), engineError(500, 'c'), engineError(500, 'd'));
  await removeContainer(engine.container);
  assert.is(engine.calls(), 3);
});

remove.run();
