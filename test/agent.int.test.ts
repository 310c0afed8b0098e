/**
 * The in-container agent (worker/agent/faasbox-agent.c), built from source by its build script
 * and read through the worker's own frame reader (worker/agent/protocol.ts). Most of it runs the
 * binary as a plain child process; the last tests run it as PID 1 of locked-down containers on
 * the real engine, in the images of deploy/test-images pulled from a loopback registry.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type AgentFrame, GO_HEADER, agentFrameReader, oneShotGo } from '../worker/agent/protocol.ts';
import { agentContainerOptions, attachToAgent } from './support/agent-attach.ts';
import { within } from './support/eventually.ts';
import { rawEnvBlock, rawEnvGo } from './support/raw-go.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const buildScript = fileURLToPath(new URL('../worker/agent/build.sh', import.meta.url));
const agentBinary = fileURLToPath(new URL('../worker/agent/bin/faasbox-agent', import.meta.url));
const sh = (script: string) => ['sh', '-c', script];
/** A function in JavaScript, for bytes a shell's printf cannot promise. */
const node = (script: string) => [process.execPath, '-e', script];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The agent's frames as they arrive, and a way to wait for one. */
function frameLog() {
  const frames: AgentFrame[] = [];
  const waiters: { type: AgentFrame['type']; resolve: (frame: AgentFrame) => void }[] = [];
  const read = agentFrameReader((frame) => {
    frames.push(frame);
    for (const waiter of waiters.filter((w) => w.type === frame.type || frame.type === 'garbled')) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(frame);
    }
  });
  const next = (type: AgentFrame['type']) =>
    within(
      new Promise<AgentFrame>((resolve) => {
        const seen = frames.find((frame) => frame.type === type || frame.type === 'garbled');
        if (seen) resolve(seen);
        else waiters.push({ type, resolve });
      }),
      10_000,
      `the agent's ${type} frame`,
    );
  const bytesOf = (type: 'stdout' | 'stderr') =>
    Buffer.concat(frames.flatMap((frame) => (frame.type === type ? [frame.bytes] : [])));
  return { frames, read, next, stdout: () => bytesOf('stdout'), stderr: () => bytesOf('stderr') };
}

type HostAgent = ReturnType<typeof frameLog> & {
  child: ChildProcessWithoutNullStreams;
  /** The agent's own exit code (or the signal that ended it), once its stdout has closed too. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** `env`: the agent's own environment, as the container's config gives it (default: this process's). */
function startAgent(command: string[], env?: Record<string, string>): HostAgent {
  const log = frameLog();
  const child = spawn(agentBinary, command, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  child.stdout.on('data', log.read);
  // The agent itself writes nothing to its stderr; the function's stderr comes framed on stdout.
  let ownStderr = '';
  child.stderr.on('data', (chunk: Buffer) => (ownStderr += chunk.toString('utf8')));
  // Writing stdin to an agent that has exited (EOF test, bad header) must not fail the suite.
  child.stdin.on('error', () => {});
  const exited = within(
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => {
        assert.is(ownStderr, '', "the agent's own stderr");
        resolve({ code, signal });
      }),
    ),
    20_000,
    'the agent to exit',
  );
  return { ...log, child, exited };
}

/** Starts the agent, waits for ready, then sends the header and `stdin` in one write and ends stdin. */
async function runAgent(command: string[], stdin: Buffer = Buffer.alloc(0)) {
  const agent = startAgent(command);
  await agent.next('ready');
  agent.child.stdin.end(Buffer.concat([GO_HEADER, stdin]));
  const { code } = await agent.exited;
  return { ...agent, code };
}

const exitOf = (frames: AgentFrame[]) => frames.find((frame) => frame.type === 'exit');
const typesOf = (frames: AgentFrame[]) => frames.map((frame) => frame.type);

let workdir: string;

const test = suite('faasbox-agent');

test('the build script builds the agent from source, static', async () => {
  await promisify(execFile)('bash', [buildScript], { timeout: 60_000 });
  const { stdout } = await promisify(execFile)('file', [agentBinary]).catch(() => ({ stdout: 'statically linked (file(1) missing)' }));
  assert.match(stdout, /statically linked/);
  workdir = mkdtempSync(join(tmpdir(), 'faasbox-agent-'));
});

test('the ready frame comes first, and the command does not run before the go header', async () => {
  const marker = join(workdir, 'ran-after-go');
  const agent = startAgent(sh(`touch ${marker}`));
  await agent.next('ready');
  await sleep(300);
  assert.is(existsSync(marker), false, 'ran before the go header');
  assert.equal(typesOf(agent.frames), ['ready']);
  agent.child.stdin.end(GO_HEADER);
  assert.is((await agent.exited).code, 0);
  assert.is(existsSync(marker), true);
  assert.equal(typesOf(agent.frames), ['ready', 'exit']);
});

test('EOF before the whole header: the agent exits 0 with nothing but ready, and runs nothing', async () => {
  for (const sent of [Buffer.alloc(0), Buffer.from(GO_HEADER.subarray(0, 5))]) {
    const marker = join(workdir, `ran-on-eof-${sent.length}`);
    const agent = startAgent(sh(`touch ${marker}`));
    await agent.next('ready');
    agent.child.stdin.end(sent);
    assert.is((await agent.exited).code, 0);
    assert.equal(typesOf(agent.frames), ['ready']);
    assert.is(existsSync(marker), false);
  }
});

test('a wrong header is refused with an F frame and exit 125, and nothing runs', async () => {
  const marker = join(workdir, 'ran-on-bad-header');
  const agent = startAgent(sh(`touch ${marker}`));
  await agent.next('ready');
  agent.child.stdin.end(Buffer.from('FBXGO\x02\0\0rest'));
  assert.is((await agent.exited).code, 125);
  assert.equal(agent.frames.slice(1), [{ type: 'execFailed', message: 'agent: bad go header' }]);
  assert.is(existsSync(marker), false);
});

test('a header that arrives a byte at a time is still the header', async () => {
  const agent = startAgent(['cat']);
  await agent.next('ready');
  for (const byte of GO_HEADER) {
    agent.child.stdin.write(Uint8Array.of(byte));
    await sleep(20);
  }
  agent.child.stdin.end('after');
  assert.is((await agent.exited).code, 0);
  assert.is(agent.stdout().toString(), 'after');
});

test('stdin after the header reaches the function exactly: several MB of binary bytes, sent with the header in one write', async () => {
  // Bytes that look like the header and like frames, at the very start where an agent reading
  // past its 8 bytes would have swallowed them.
  const stdin = Buffer.concat([Buffer.from(GO_HEADER), Buffer.from('X\0\0\0\x05\0\0\0\0\0'), randomBytes(5 * 1024 * 1024)]);
  const run = await runAgent(['cat'], stdin);
  assert.is(run.code, 0);
  assert.ok(run.stdout().equals(stdin), `got ${run.stdout().length} bytes of ${stdin.length}`);
  assert.ok(
    run.frames.every((frame) => frame.type !== 'stdout' || frame.bytes.length <= 64 * 1024),
    'no output frame above 64 KiB',
  );
});

test('empty stdin after the header is an empty stdin, not a hang', async () => {
  const run = await runAgent(sh('wc -c'));
  assert.is(run.code, 0);
  assert.is(run.stdout().toString().trim(), '0');
});

test('stdout and stderr come back byte for byte, frames and the go header among them', async () => {
  const forged = Buffer.concat([Buffer.from('X\0\0\0\x05\0\0\0\0\0'), Buffer.from('F\0\0\0\x02no'), Buffer.from(GO_HEADER), Buffer.from([0, 255, 10])]);
  const hex = forged.toString('hex');
  const run = await runAgent(
    node(`const b = Buffer.from('${hex}', 'hex'); process.stdout.write(b); process.stderr.write(Buffer.concat([b, b]));`),
  );
  assert.is(run.code, 0);
  assert.not.ok(run.frames.some((frame) => frame.type === 'garbled'), JSON.stringify(run.frames));
  assert.ok(run.stdout().equals(forged));
  assert.ok(run.stderr().equals(Buffer.concat([forged, forged])));
  assert.equal(exitOf(run.frames), { type: 'exit', status: 0, signal: 0 });
  assert.is(run.frames.at(-1)?.type, 'exit', 'the exit frame is the last');
});

test('a function that writes one byte at a time gets every byte back, in order', async () => {
  const text = 'one byte per write, to both streams: ✓';
  const run = await runAgent(
    node(`const fs = require('fs'); for (const b of Buffer.from(${JSON.stringify(text)})) { fs.writeSync(1, Uint8Array.of(b)); fs.writeSync(2, Uint8Array.of(b)); }`),
  );
  assert.is(run.code, 0);
  assert.is(run.stdout().toString(), text);
  assert.is(run.stderr().toString(), text);
});

test('output keeps its order of arrival across stdout and stderr', async () => {
  const run = await runAgent(sh('echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three'));
  const output = run.frames.flatMap((frame) => (frame.type === 'stdout' || frame.type === 'stderr' ? [`${frame.type} ${frame.bytes}`] : []));
  assert.equal(output, ['stdout one\n', 'stderr two\n', 'stdout three\n']);
});

test("exit codes: the X frame's status and the agent's own exit code agree", async () => {
  for (const code of [0, 3, 255]) {
    const run = await runAgent(sh(`echo out; exit ${code}`));
    assert.equal(exitOf(run.frames), { type: 'exit', status: code, signal: 0 });
    assert.is(run.code, code);
    assert.is(run.stdout().toString(), 'out\n', 'output written just before the exit is not lost');
  }
});

test('a function killed by SIGKILL reports status 137 and signal 9, and the agent exits 137', async () => {
  const run = await runAgent(sh('echo before; kill -9 $$'));
  assert.equal(exitOf(run.frames), { type: 'exit', status: 137, signal: 9 });
  assert.is(run.code, 137);
  assert.is(run.stdout().toString(), 'before\n');
});

test("a missing command: an F frame in tini's words, exit 127, and no X frame", async () => {
  const run = await runAgent(['nope', 'arg']);
  assert.equal(run.frames, [{ type: 'ready' }, { type: 'execFailed', message: 'exec nope failed: No such file or directory' }]);
  assert.is(run.code, 127);
});

test('a command that is not executable: an F frame and exit 126', async () => {
  const file = join(workdir, 'not-executable');
  writeFileSync(file, '#!/bin/sh\necho ran\n');
  chmodSync(file, 0o644);
  const run = await runAgent([file]);
  assert.equal(run.frames, [{ type: 'ready' }, { type: 'execFailed', message: `exec ${file} failed: Permission denied` }]);
  assert.is(run.code, 126);
});

test('no command at all: an F frame and exit 127', async () => {
  const run = await runAgent([]);
  assert.equal(run.frames, [{ type: 'ready' }, { type: 'execFailed', message: 'no command specified' }]);
  assert.is(run.code, 127);
});

test('the command is looked up on PATH', async () => {
  const run = await runAgent(['env', 'echo', 'found']);
  assert.is(run.code, 0);
  assert.is(run.stdout().toString(), 'found\n');
});

test('a background process that keeps stdout open does not delay the exit frame', async () => {
  const agent = startAgent(sh('sleep 30 & echo $!'));
  await agent.next('ready');
  const sent = Date.now();
  agent.child.stdin.end(GO_HEADER);
  const exit = await agent.next('exit');
  const elapsed = Date.now() - sent;
  const { code } = await agent.exited;
  // Not PID 1 here, so the background sleep outlives the agent: stop it by its pid.
  const pid = Number(agent.stdout().toString().trim());
  if (pid > 0) process.kill(pid, 'SIGKILL');
  assert.equal(exit, { type: 'exit', status: 0, signal: 0 });
  assert.is(code, 0);
  assert.ok(pid > 0, `the background pid: ${agent.stdout().toString()}`);
  assert.ok(elapsed < 2000, `the exit frame came ${elapsed} ms after go`);
});

test('with its stdout gone, the agent still waits for the function and exits with its status', async () => {
  const agent = startAgent(sh('sleep 0.2; echo into-the-void; echo more >&2; exit 4'));
  await agent.next('ready');
  agent.child.stdout.destroy();
  agent.child.stdin.end(GO_HEADER);
  assert.is((await agent.exited).code, 4);
});

// ---- variables given with the go (version 3) --------------------------------------------------------

/** A value no message, config or output but the function's may hold. */
const SECRET = `s3cret-${randomUUID()}`;

/** Env blocks the agent must refuse, and what it says: the variable's position and the rule, never the value. */
const refusedEnvs: [message: string, block: Buffer][] = [
  ["agent: env refused: variable 2: its name holds '=' or NUL", rawEnvBlock([['FINE', 'x'], ['A=B', SECRET]])],
  ["agent: env refused: variable 1: its name holds '=' or NUL", rawEnvBlock([['A\0B', SECRET]])],
  // Read as `NAME=value\0` pairs, this would have set B=1 beside A.
  ['agent: env refused: variable 1: its value holds NUL', rawEnvBlock([['A', `${SECRET}\0B=1`]])],
  ['agent: env refused: variable 1: its name is empty', rawEnvBlock([['', SECRET]])],
  ['agent: env refused: variable 1: the block ends within it', rawEnvBlock([['A', SECRET]]).subarray(0, 10)],
  ['agent: env refused: 70000 bytes, more than 65536', Buffer.concat([rawEnvBlock([['A', SECRET]]), Buffer.alloc(70_000)]).subarray(0, 70_000)],
];

test('a version 3 go sets its variables in the function, over the environment the agent has by the same name; stdin follows as in version 1', async () => {
  const agent = startAgent(sh('echo "$SECRET_X|$FROM_CONFIG|[$EMPTY]|${UNSET-unset}"; cat'), {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SECRET_X: 'from the config',
    FROM_CONFIG: 'kept',
  });
  await agent.next('ready');
  agent.child.stdin.end(Buffer.concat([oneShotGo({ SECRET_X: SECRET, EMPTY: '' }), Buffer.from('the stdin')]));
  assert.is((await agent.exited).code, 0);
  assert.is(agent.stdout().toString(), `${SECRET}|kept|[]|unset\nthe stdin`);
  assert.equal(exitOf(agent.frames), { type: 'exit', status: 0, signal: 0 });
});

test('a version 3 go with variables the agent cannot give is refused with F naming the variable and the rule, never the value; exit 125, nothing runs', async () => {
  for (const [message, block] of refusedEnvs) {
    const marker = join(workdir, 'ran-on-refused-env');
    const agent = startAgent(sh(`touch ${marker}`));
    await agent.next('ready');
    agent.child.stdin.end(Buffer.concat([rawEnvGo(3, block), Buffer.from('stdin')]));
    assert.is((await agent.exited).code, 125, message);
    assert.equal(agent.frames, [{ type: 'ready' }, { type: 'execFailed', message }]);
    assert.not.ok(message.includes(SECRET.slice(0, 8)));
    assert.is(existsSync(marker), false, message);
  }
});

test('EOF within the env part of a version 3 go ends the agent with 0 and runs nothing', async () => {
  const whole = rawEnvGo(3, rawEnvBlock([['A', 'value']]));
  const marker = join(workdir, 'ran-on-env-eof');
  for (const sent of [whole.subarray(0, 8), whole.subarray(0, 10), whole.subarray(0, 14), whole.subarray(0, whole.length - 1)]) {
    const agent = startAgent(sh(`touch ${marker}`));
    await agent.next('ready');
    agent.child.stdin.end(sent);
    assert.is((await agent.exited).code, 0, `after ${sent.length} bytes`);
    assert.equal(typesOf(agent.frames), ['ready']);
  }
  assert.is(existsSync(marker), false);
});

// ---- as PID 1 of a locked-down container, on the real engine --------------------------------------

const docker = new Docker();
const suiteLabel = { 'faasbox.test': `agent-${randomUUID().slice(0, 8)}` };
let registry: Registry;
let images: TestImages;

type ContainerRun = ReturnType<typeof frameLog> & {
  exitCode: number;
  agentStderr: string;
  /** What `docker inspect` said of the container once it ran, as JSON. */
  inspected: string;
};

/**
 * Creates a container the way the worker pre-starts one (the agent bind-mounted read-only as its
 * entrypoint, no docker-init), attached before the start; sends go once the agent is ready;
 * removes the container whatever happens.
 */
async function runInContainer(
  image: string,
  command: string[],
  options: { pidsLimit?: number; go?: Uint8Array; env?: string[]; until?: 'exit' | 'execFailed' } = {},
): Promise<ContainerRun> {
  const container = await docker.createContainer(
    agentContainerOptions({ image, cmd: command, labels: suiteLabel, agentBinary, pidsLimit: options.pidsLimit, env: options.env }),
  );
  try {
    const log = frameLog();
    const { stream, agentStderr } = await attachToAgent(container, log.read);
    await container.start();
    // After the start: a wait on a container not yet started answers at once.
    const exited = container.wait();
    await log.next('ready');
    stream.end(Buffer.from(options.go ?? GO_HEADER));
    await log.next(options.until ?? 'exit');
    await within(exited, 10_000, 'the container to exit');
    const inspected = await container.inspect();
    stream.destroy();
    return { ...log, exitCode: inspected.State.ExitCode, agentStderr: agentStderr(), inspected: JSON.stringify(inspected) };
  } finally {
    await container.remove({ force: true, v: true });
  }
}

test('(engine) a loopback registry serves the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  for (const image of [images.probe, images.busybox]) {
    const progress = await docker.pull(image);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())));
  }
});

test('(engine) in a scratch image with no shell and no libc, the agent runs the function as PID 1 and the container exits with its status', async () => {
  const ran = await runInContainer(images.probe, ['/probe']);
  assert.is(ran.stdout().toString(), 'probe ran\n');
  assert.equal(exitOf(ran.frames), { type: 'exit', status: 0, signal: 0 });
  assert.is(ran.exitCode, 0);

  const refused = await runInContainer(images.probe, ['/probe', 'no-such-mode']);
  assert.match(refused.stderr().toString(), /^usage: probe/);
  assert.equal(exitOf(refused.frames), { type: 'exit', status: 2, signal: 0 });
  assert.is(refused.exitCode, 2);
  assert.is(refused.agentStderr, '');
});

test("(engine) the function cannot write to the agent's stdout through /proc/1/fd/1", async () => {
  const run = await runInContainer(images.busybox, sh('echo forged > /proc/1/fd/1; echo own'));
  assert.not.ok(run.frames.some((frame) => frame.type === 'garbled'), JSON.stringify(run.frames));
  assert.is(run.frames[0]?.type, 'ready');
  assert.match(run.stderr().toString(), /\/proc\/1\/fd\/1: .*Permission denied/);
  assert.is(run.stdout().toString(), 'own\n', 'only what the function wrote to its own stdout');
  assert.equal(exitOf(run.frames), { type: 'exit', status: 0, signal: 0 });
});

test('(engine) orphans are reaped: far more of them than the pids limit come and go', async () => {
  // Each `(sleep 0 &)` leaves an orphan to PID 1; unreaped, 200 zombies would hit a limit of 32
  // and the shell could no longer fork.
  const run = await runInContainer(images.busybox, sh('i=0; while [ $i -lt 200 ]; do (sleep 0 &); i=$((i+1)); done; echo done'), { pidsLimit: 32 });
  assert.is(run.stderr().toString(), '');
  assert.is(run.stdout().toString(), 'done\n');
  assert.equal(exitOf(run.frames), { type: 'exit', status: 0, signal: 0 });
});

test('(engine) variables given with the go reach the function, in a scratch image with no shell and no libc too, and nowhere in the container', async () => {
  const go = oneShotGo({ SECRET_X: SECRET });
  const env = ['SECRET_X=from the config', 'CONFIG_ONLY=c'];
  const probe = await runInContainer(images.probe, ['/probe', 'env', 'SECRET_X', 'CONFIG_ONLY', 'UNSET'], { go, env });
  assert.is(probe.stdout().toString(), `SECRET_X=${SECRET}\nCONFIG_ONLY=c\nUNSET unset\n`);
  assert.is(probe.exitCode, 0);

  // The agent's own environment is not the function's to read: it is not dumpable.
  const shell = await runInContainer(images.busybox, sh('echo "$SECRET_X"; cat /proc/1/environ'), { go, env });
  assert.is(shell.stdout().toString(), `${SECRET}\n`);
  assert.match(shell.stderr().toString(), /\/proc\/1\/environ.*Permission denied/);
  for (const run of [probe, shell]) {
    assert.ok(run.inspected.includes('from the config'), 'the inspection shows the config');
    assert.not.ok(run.inspected.includes(SECRET), 'docker inspect shows no secret');
  }
});

test('(engine) a refused env ends the container with F and 125, the function never ran', async () => {
  const [message, block] = refusedEnvs[0] as [string, Buffer];
  const refused = await runInContainer(images.probe, ['/probe'], { go: rawEnvGo(3, block), until: 'execFailed' });
  assert.equal(refused.frames, [{ type: 'ready' }, { type: 'execFailed', message }]);
  assert.is(refused.exitCode, 125);
});

test('(engine) no container of this suite is left; the registry and the pulled images go', async () => {
  rmSync(workdir, { recursive: true, force: true });
  await registry.stop();
  const left = await docker.listContainers({ all: true, filters: { label: [`faasbox.test=${suiteLabel['faasbox.test']}`] } });
  assert.equal(left, []);
  for (const image of [images.probe, images.busybox]) await docker.getImage(image).remove().catch(() => {});
});

test.run();
