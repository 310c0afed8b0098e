/**
 * The reuse pool's own logic (worker/docker/reuse-pool.ts) over a scripted backend: which
 * container an execution gets, when one serves again and when it goes. The real engine and agent
 * are in reuse.e2e and agent-reuse.int.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type Docker from 'dockerode';
import type { AgentSession } from '../worker/docker/agent-session.ts';
import type { PreparedContainer } from '../worker/docker/prepare.ts';
import type { PoolSpec } from '../worker/docker/prestart-pool.ts';
import { type ReusePool, type ReuseSettings, createReusePool } from '../worker/docker/reuse-pool.ts';

const test = suite('reuse pool [scripted backend]');

/** A container whose agent says clean (or not) after each execution when the test tells it to. */
function scriptedContainer(id: string, removed: Set<string>) {
  let clean: (value: boolean) => void = () => {};
  const session = (): AgentSession => {
    const cleaned = new Promise<boolean>((resolve) => (clean = resolve));
    return {
      ready: Promise.resolve(),
      go() {},
      ended: new Promise(() => {}),
      streamEnded: new Promise(() => {}),
      stdout: { sink: undefined as never, text: () => '', truncated: false } as never,
      stderr: { sink: undefined as never, text: () => '', truncated: false } as never,
      cleaned,
      next: session,
      close() {},
    };
  };
  const container = { id, remove: async () => void removed.add(id) } as unknown as Docker.Container;
  const prepared: PreparedContainer = { container, session: session(), readyAt: 0, mode: 'reuse' };
  return { prepared, clean: (value = true) => clean(value) };
}

const spec = (overrides: Partial<PoolSpec> = {}): PoolSpec => ({
  functionId: 'fn-1',
  ownerId: 'owner-1',
  image: 'img:1',
  command: ['cat'],
  env: {},
  memoryMb: 64,
  ...overrides,
});

function pool(settings: Partial<ReuseSettings> = {}) {
  const removed = new Set<string>();
  let now = 0;
  const reuse: ReusePool = createReusePool(
    { maxExecutions: 1000, maxAgeMs: 60_000, idleMs: 30_000, perFunction: 4, ...settings },
    { prepare: async () => Promise.reject(new Error('not in these tests')), hold: () => () => {} },
    () => {},
    () => now,
  );
  const fresh = (id: string, of = spec()) => {
    const made = scriptedContainer(id, removed);
    const slotId = reuse.slotFor();
    return { ...made, borrowed: reuse.adopt(of, made.prepared, slotId) };
  };
  return { reuse, removed, fresh, advance: (ms: number) => (now += ms) };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('a container given back clean serves the next execution of its function; the start says reused', async () => {
  const { reuse, fresh } = pool();
  const first = fresh('c1');
  assert.is(first.borrowed.start, 'cold');
  first.borrowed.giveBack(true);
  first.clean();
  await tick();
  const next = await reuse.borrow(spec());
  assert.is(next?.prepared.container.id, 'c1');
  assert.is(next?.start, 'reused');
  await reuse.close();
});

test('not clean, not reusable, another owner or a changed function: never served again', async () => {
  const { reuse, fresh, removed } = pool();
  const dirty = fresh('dirty');
  dirty.borrowed.giveBack(true);
  dirty.clean(false);
  const killed = fresh('killed');
  killed.borrowed.giveBack(false);
  await tick();
  assert.equal([...removed].sort(), ['dirty', 'killed']);
  assert.is(await reuse.borrow(spec()), null);

  const mine = fresh('mine');
  mine.borrowed.giveBack(true);
  mine.clean();
  await tick();
  assert.is(await reuse.borrow(spec({ ownerId: 'owner-2', functionId: 'fn-2' })), null, "another owner's function gets none of it");
  const changed = await reuse.borrow(spec({ image: 'img:2' }));
  assert.is(changed, null, 'the same function with another spec gets none of it');
  assert.ok(removed.has('mine'), 'what served the old spec is removed');
  await reuse.close();
});

test('a busy container given back after its function changed is removed, not served', async () => {
  const { reuse, fresh, removed } = pool();
  const old = fresh('old');
  assert.is(await reuse.borrow(spec({ image: 'img:2' })), null);
  old.borrowed.giveBack(true);
  old.clean();
  await tick();
  assert.ok(removed.has('old'));
  assert.is(await reuse.borrow(spec({ image: 'img:2' })), null);
  await reuse.close();
});

test('a call waits for a container being cleaned rather than make one; the executions cap and the age retire it', async () => {
  const { reuse, fresh, removed, advance } = pool({ maxExecutions: 2, maxAgeMs: 1_000 });
  const first = fresh('c1');
  first.borrowed.giveBack(true);
  const waiting = reuse.borrow(spec());
  first.clean();
  const second = await waiting;
  assert.is(second?.prepared.container.id, 'c1', 'the waiting call got it as soon as it was clean');
  second!.giveBack(true);
  first.clean();
  await tick();
  assert.ok(removed.has('c1'), 'two executions served: replaced');

  const aged = fresh('c2');
  advance(1_001);
  aged.borrowed.giveBack(true);
  aged.clean();
  await tick();
  assert.ok(removed.has('c2'), 'past its age: replaced');
  await reuse.close();
});

test('a deleted function: its idle containers go, a busy one goes when given back, and none is kept for it again', async () => {
  const { reuse, fresh, removed } = pool();
  const idle = fresh('idle');
  const busy = fresh('busy');
  idle.borrowed.giveBack(true);
  idle.clean();
  await tick();
  reuse.retire('fn-1');
  await tick();
  assert.ok(removed.has('idle'));
  busy.borrowed.giveBack(true);
  busy.clean();
  await tick();
  assert.ok(removed.has('busy'));
  const late = fresh('late');
  late.borrowed.giveBack(true);
  late.clean();
  await tick();
  assert.ok(removed.has('late'), 'an execution queued before the deletion ran in a container kept for no one');
  await reuse.close();
});

test('close removes the idle ones and waits for those being given back', async () => {
  const { reuse, fresh, removed } = pool();
  const idle = fresh('idle');
  idle.borrowed.giveBack(true);
  idle.clean();
  await tick();
  const busy = fresh('busy');
  busy.borrowed.giveBack(true);
  const closing = reuse.close();
  busy.clean();
  await closing;
  assert.equal([...removed].sort(), ['busy', 'idle']);
});

test.run();
