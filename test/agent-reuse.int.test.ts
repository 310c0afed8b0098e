/**
 * The agent's reuse mode (`faasbox-agent --reuse CMD`): one container serves execution after
 * execution of one function, each fed its own stdin by a version 2 go and each finding the
 * container as the first did. The first tests run the binary as a plain child process, where
 * the framing can be checked but no clean slate can be promised; the rest run it as PID 1 of
 * locked-down containers on the real engine, as the worker does.
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
import { type AgentFrame, GO_HEADER, GO_HEADER_REUSE, type GoEnv, agentFrameReader, reuseGo } from '../worker/agent/protocol.ts';
import { agentContainerOptions, attachToAgent } from './support/agent-attach.ts';
import { within } from './support/eventually.ts';
import { rawEnvBlock, rawEnvGo } from './support/raw-go.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const buildScript = fileURLToPath(new URL('../worker/agent/build.sh', import.meta.url));
const agentBinary = fileURLToPath(new URL('../worker/agent/bin/faasbox-agent', import.meta.url));
const NOT_PID_1 = 'agent: not PID 1, so no clean slate';

/** The agent's frames as they arrive, and a way to wait for the next of some types. */
function frameLog() {
  const frames: AgentFrame[] = [];
  const listeners = new Set<() => void>();
  const read = agentFrameReader((frame) => {
    frames.push(frame);
    for (const listener of listeners) listener();
  });
  /** The index of the first frame from `from` on that is one of `types`, or garbled. */
  const until = (from: number, types: AgentFrame['type'][], what: string) =>
    within(
      new Promise<number>((resolve) => {
        const check = () => {
          const index = frames.findIndex((frame, at) => at >= from && (types.includes(frame.type) || frame.type === 'garbled'));
          if (index < 0) return;
          listeners.delete(check);
          resolve(index);
        };
        listeners.add(check);
        check();
      }),
      20_000,
      what,
    );
  return { frames, read, until };
}

/** One execution's frames, from its go to its 'C' or 'D' (or to the end of the agent). */
function callOf(frames: AgentFrame[]) {
  const bytesOf = (type: 'stdout' | 'stderr') => Buffer.concat(frames.flatMap((frame) => (frame.type === type ? [frame.bytes] : [])));
  return {
    frames,
    stdout: bytesOf('stdout'),
    stderr: bytesOf('stderr'),
    /** The frames that are not output: the report and the verdict, e.g. ['exit', 'clean']. */
    reports: frames.filter((frame) => frame.type !== 'stdout' && frame.type !== 'stderr'),
  };
}

const exited = (status: number, signal = 0): AgentFrame => ({ type: 'exit', status, signal });
const clean: AgentFrame = { type: 'clean' };
const withStdin = (stdin: Buffer | string, env?: GoEnv) => {
  const bytes = Buffer.from(stdin);
  return Buffer.concat([reuseGo(bytes.length, env), bytes]);
};

/** Values no message, config or output but their own execution's may hold. */
const SECRET = `s3cret-${randomUUID()}`;
const OTHER_SECRET = `other-${randomUUID()}`;
/** A version 4 go the agent must refuse (a name with '='), with its stdin, and what it says. */
const refusedGo = (stdin: string) =>
  Buffer.concat([rawEnvGo(4, rawEnvBlock([['FINE', 'x'], ['A=B', SECRET]]), Buffer.byteLength(stdin)), Buffer.from(stdin)]);
const REFUSED: AgentFrame = { type: 'execFailed', message: "agent: env refused: variable 2: its name holds '=' or NUL" };

// ---- as a plain child process: the framing --------------------------------------------------------

/** `env`: the agent's own environment, as the container's config gives it (default: this process's). */
function startAgent(args: string[], env?: Record<string, string>) {
  const log = frameLog();
  const child: ChildProcessWithoutNullStreams = spawn(agentBinary, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  child.stdout.on('data', log.read);
  let ownStderr = '';
  child.stderr.on('data', (chunk: Buffer) => (ownStderr += chunk.toString('utf8')));
  // Writing to an agent that has exited (EOF and bad header tests) must not fail the suite.
  child.stdin.on('error', () => {});
  const exit = within(
    new Promise<number | null>((resolve) =>
      child.on('close', (code) => {
        assert.is(ownStderr, '', "the agent's own stderr");
        resolve(code);
      }),
    ),
    20_000,
    'the agent to exit',
  );
  return { ...log, child, exit, ready: log.until(0, ['ready'], 'ready') };
}

let workdir: string;

const test = suite('faasbox-agent --reuse');

test('the build script builds the agent from source', async () => {
  await promisify(execFile)('bash', [buildScript], { timeout: 60_000 });
  workdir = mkdtempSync(join(tmpdir(), 'faasbox-agent-reuse-'));
});

test('reuseGo is "FBXGO", version 2, then the stdin length in big-endian u32', () => {
  assert.equal([...reuseGo(0x01020304)], [0x46, 0x42, 0x58, 0x47, 0x4f, 0x02, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04]);
  assert.equal([...reuseGo(0).subarray(0, 8)], [...GO_HEADER_REUSE]);
  assert.throws(() => reuseGo(2 ** 32));
  assert.throws(() => reuseGo(-1));
});

test('(host) a version 2 go gives the function exactly its N bytes, then X; not being PID 1, the agent says D and exits 125', async () => {
  // The next go follows in the same write: the function must not read it as its own.
  const agent = startAgent(['--reuse', 'cat']);
  await agent.ready;
  agent.child.stdin.end(Buffer.concat([withStdin('hello'), withStdin('next call')]));
  assert.is(await agent.exit, 125);
  const call = callOf(agent.frames.slice(1));
  assert.is(call.stdout.toString(), 'hello');
  assert.equal(call.reports, [exited(0), { type: 'dirty', message: NOT_PID_1 }]);
});

test('(host) several MB in and out at once do not deadlock: the agent feeds stdin without blocking', async () => {
  const stdin = Buffer.concat([Buffer.from(GO_HEADER_REUSE), Buffer.from('X\0\0\0\x05\0\0\0\0\0'), randomBytes(4 * 1024 * 1024)]);
  const agent = startAgent(['--reuse', 'cat']);
  await agent.ready;
  agent.child.stdin.end(withStdin(stdin));
  assert.is(await agent.exit, 125);
  const call = callOf(agent.frames.slice(1));
  assert.ok(call.stdout.equals(stdin), `got ${call.stdout.length} bytes of ${stdin.length}`);
  assert.equal(call.reports, [exited(0), { type: 'dirty', message: NOT_PID_1 }]);
});

test('(host) a function that exits without reading its stdin is reported at once; the rest is read and dropped', async () => {
  const agent = startAgent(['--reuse', 'sh', '-c', 'exit 7']);
  await agent.ready;
  // Only the header and a part of 1 MB: the exit must not wait for the rest.
  agent.child.stdin.write(Buffer.concat([reuseGo(1024 * 1024), randomBytes(1000)]));
  const exit = await agent.until(0, ['exit'], 'the exit frame');
  assert.equal(agent.frames[exit], exited(7));
  agent.child.stdin.end(randomBytes(1024 * 1024 - 1000));
  assert.is(await agent.exit, 125);
  assert.equal(callOf(agent.frames.slice(1)).reports, [exited(7), { type: 'dirty', message: NOT_PID_1 }]);
});

test('(host) a stdin that ends before its N bytes: the function reads what came, then EOF', async () => {
  const agent = startAgent(['--reuse', 'wc', '-c']);
  await agent.ready;
  agent.child.stdin.end(Buffer.concat([reuseGo(100), Buffer.from('four')]));
  assert.is(await agent.exit, 125);
  assert.is(callOf(agent.frames.slice(1)).stdout.toString().trim(), '4');
});

test('(host) EOF instead of a go, or within one, ends the agent with 0 and runs nothing', async () => {
  const marker = join(workdir, 'ran-on-eof');
  for (const sent of [Buffer.alloc(0), Buffer.from(GO_HEADER_REUSE.subarray(0, 5)), Buffer.from(GO_HEADER_REUSE), Buffer.from(reuseGo(3).subarray(0, 10))]) {
    const agent = startAgent(['--reuse', 'touch', marker]);
    await agent.ready;
    agent.child.stdin.end(sent);
    assert.is(await agent.exit, 0, `after ${sent.length} bytes`);
    assert.equal(agent.frames, [{ type: 'ready' }]);
  }
  assert.is(existsSync(marker), false);
});

test('(host) a bad header, the one-shot one included, is refused with F and exit 125, and nothing runs', async () => {
  for (const header of [Buffer.from(GO_HEADER), Buffer.from('FBXGO\x03\0\0'), Buffer.from('garbage!')]) {
    const agent = startAgent(['--reuse', 'sh', '-c', 'echo ran']);
    await agent.ready;
    agent.child.stdin.end(Buffer.concat([header, Buffer.from([0, 0, 0, 2]), Buffer.from('hi')]));
    assert.is(await agent.exit, 125);
    assert.equal(agent.frames, [{ type: 'ready' }, { type: 'execFailed', message: 'agent: bad go header' }]);
  }
});

test('(host) without --reuse the agent is one-shot as before, and refuses a version 2 go', async () => {
  const oneShot = startAgent(['sh', '-c', 'cat; exit 3']);
  await oneShot.ready;
  oneShot.child.stdin.end(Buffer.concat([Buffer.from(GO_HEADER), Buffer.from('as before')]));
  assert.is(await oneShot.exit, 3);
  assert.equal(oneShot.frames, [{ type: 'ready' }, { type: 'stdout', bytes: Buffer.from('as before') }, exited(3)]);

  const refused = startAgent(['cat']);
  await refused.ready;
  refused.child.stdin.end(withStdin('x'));
  assert.is(await refused.exit, 125);
  assert.equal(refused.frames, [{ type: 'ready' }, { type: 'execFailed', message: 'agent: bad go header' }]);
});

test('(host) a version 4 go sets its variables in its process, over the agent\'s own by the same name; exactly N bytes of stdin follow', async () => {
  const agent = startAgent(['--reuse', 'sh', '-c', 'echo "$SECRET_X|$FROM_CONFIG"; cat'], { PATH: process.env.PATH ?? '/usr/bin:/bin', SECRET_X: 'from the config', FROM_CONFIG: 'kept' });
  await agent.ready;
  agent.child.stdin.end(Buffer.concat([withStdin('hello', { SECRET_X: SECRET }), withStdin('next call')]));
  assert.is(await agent.exit, 125);
  const call = callOf(agent.frames.slice(1));
  assert.is(call.stdout.toString(), `${SECRET}|kept\nhello`);
  assert.equal(call.reports, [exited(0), { type: 'dirty', message: NOT_PID_1 }]);
});

test('(host) a version 4 go with variables the agent cannot give: F naming the rule, never the value; nothing runs', async () => {
  const marker = join(workdir, 'ran-on-refused-env');
  const agent = startAgent(['--reuse', 'touch', marker]);
  await agent.ready;
  agent.child.stdin.end(refusedGo('stdin'));
  assert.is(await agent.exit, 125);
  assert.equal(agent.frames, [{ type: 'ready' }, REFUSED, { type: 'dirty', message: NOT_PID_1 }]);
  assert.is(existsSync(marker), false);
});

test('(host) EOF within the env part of a version 4 go, or before its stdin length, ends the agent with 0 and runs nothing', async () => {
  const marker = join(workdir, 'ran-on-env-eof');
  const whole = Buffer.from(reuseGo(0, { A: 'value' }));
  for (const sent of [whole.subarray(0, 10), whole.subarray(0, 20), whole.subarray(0, whole.length - 4), whole.subarray(0, whole.length - 1)]) {
    const agent = startAgent(['--reuse', 'touch', marker]);
    await agent.ready;
    agent.child.stdin.end(sent);
    assert.is(await agent.exit, 0, `after ${sent.length} bytes`);
    assert.equal(agent.frames, [{ type: 'ready' }]);
  }
  assert.is(existsSync(marker), false);
});

// ---- as PID 1 of a locked-down container, on the real engine --------------------------------------

const docker = new Docker();
const LABEL = 'faasbox.test';
const suiteLabel = { [LABEL]: `agent-reuse-${randomUUID().slice(0, 8)}` };
let registry: Registry;
let images: TestImages;

/**
 * /tmp as the worker mounts it (worker/docker/container-config.ts): an anonymous tmpfs volume,
 * 1777, noexec, gone with the container.
 */
const scratchTmp: Docker.MountSettings = {
  Type: 'volume',
  Source: '',
  Target: '/tmp',
  VolumeOptions: {
    NoCopy: true,
    Labels: suiteLabel,
    DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=16m,mode=1777,noexec,nosuid,nodev' } },
  },
};

/**
 * Creates and starts a container the way the worker pre-starts one (the agent bind-mounted
 * read-only as its entrypoint, locked down), attached before the start, and waits for ready.
 * `call` runs one execution and resolves with its frames up to its 'C' or 'D'.
 */
async function startContainer(image: string, command: string[], options: { reuse?: boolean; mounts?: Docker.MountSettings[]; env?: string[] } = {}) {
  const container = await docker.createContainer(
    agentContainerOptions({
      image,
      cmd: options.reuse === false ? command : ['--reuse', ...command],
      labels: suiteLabel,
      agentBinary,
      mounts: [scratchTmp, ...(options.mounts ?? [])],
      env: options.env,
    }),
  );
  const log = frameLog();
  const { stream, agentStderr } = await attachToAgent(container, log.read);
  await container.start();
  // After the start: a wait on a container not yet started answers at once.
  const containerExit = container.wait();
  await log.until(0, ['ready'], 'ready');

  let calls = 0;
  /** Writes a whole go and its stdin; the frames up to the verdict. */
  const callWith = async (go: Buffer) => {
    const from = log.frames.length;
    stream.write(go);
    const end = await log.until(from, ['clean', 'dirty'], `the verdict of call ${++calls}`);
    return callOf(log.frames.slice(from, end + 1));
  };
  return {
    log,
    call: (stdin: Buffer | string, env?: GoEnv) => callWith(withStdin(stdin, env)),
    callWith,
    /** What `docker inspect` says of the container now, as JSON. */
    inspect: async () => JSON.stringify(await container.inspect()),
    /** Ends stdin as the worker does to discard the container; its exit code once it has exited. */
    async end(stdin?: Buffer) {
      stream.end(stdin);
      await within(containerExit, 10_000, 'the container to exit');
      const { State: state } = await container.inspect();
      stream.destroy();
      await container.remove({ force: true, v: true });
      assert.is(agentStderr(), '', "the agent's own stderr");
      return state.ExitCode;
    },
  };
}

/** A function whose first line of stdin is its script; the script may read the rest. `read` takes one byte at a time, so the rest is intact. */
const scripted = ['sh', '-c', 'read -r script; eval "$script"'];

/** Lists the processes other than PID 1 and the shell itself, each as its command line: the glob is expanded before any child runs. */
const listOthers = `for d in /proc/[0-9]*; do p=\${d#/proc/}; [ "$p" = 1 ] || [ "$p" = $$ ] || echo "$(tr '\\0' ' ' < $d/cmdline)"; done`;

test.after(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=${suiteLabel[LABEL]}`] } });
  for (const { Id } of left) await docker.getContainer(Id).remove({ force: true, v: true }).catch(() => {});
  if (workdir) rmSync(workdir, { recursive: true, force: true });
  if (images) for (const image of [images.probe, images.busybox]) await docker.getImage(image).remove().catch(() => {});
  await registry?.stop();
});

test('(engine) a loopback registry serves the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  for (const image of [images.probe, images.busybox]) {
    const progress = await docker.pull(image);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())));
  }
});

test('(engine) one container serves 24 executions in turn, each with its own stdin and output only', async () => {
  const fn = await startContainer(images.busybox, scripted);
  for (let index = 0; index < 24; index++) {
    const nonce = randomBytes(12).toString('hex');
    if (index === 5) {
      // Empty stdin: no script, nothing read, nothing written.
      const call = await fn.call('');
      assert.equal(call.frames, [exited(0), clean], 'empty stdin');
    } else if (index === 11) {
      // About 2 MB of binary bytes, and bytes that look like a go and a frame right at the start.
      const data = Buffer.concat([Buffer.from(nonce), Buffer.from(reuseGo(5)), Buffer.from('X\0\0\0\x05\0\0\0\0\0'), randomBytes(2 * 1024 * 1024)]);
      const call = await fn.call(Buffer.concat([Buffer.from('cat\n'), data]));
      assert.ok(call.stdout.equals(data), `2 MB: got ${call.stdout.length} bytes of ${data.length}`);
      assert.equal(call.reports, [exited(0), clean]);
    } else if (index === 17) {
      // The function exits having read its first line only: the agent drops the other 1 MB.
      const call = await fn.call(Buffer.concat([Buffer.from(`echo skipped ${nonce}; exit 0\n`), randomBytes(1024 * 1024)]));
      assert.is(call.stdout.toString(), `skipped ${nonce}\n`);
      assert.equal(call.reports, [exited(0), clean]);
    } else {
      const call = await fn.call(`cat; echo "err ${nonce}" >&2\n${nonce}`);
      assert.is(call.stdout.toString(), nonce, `call ${index}`);
      assert.is(call.stderr.toString(), `err ${nonce}\n`, `call ${index}`);
      assert.equal(call.reports, [exited(0), clean]);
    }
  }
  // EOF between calls: the worker discards the container.
  assert.is(await fn.end(), 0);
});

test('(engine) nothing of an execution reaches the next: files, processes, variables, IPC objects, output', async () => {
  const ipcHelper = join(workdir, 'ipc-leftovers');
  writeFileSync(
    `${ipcHelper}.c`,
    `#include <stdio.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
/* Mode 0: not even their owner may read them, so only a _STAT_ANY listing finds them. */
int main(void) {
  int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0), sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0), msg = msgget(IPC_PRIVATE, IPC_CREAT | 0);
  printf("ipc %d %d %d\\n", shm, sem, msg);
  return shm < 0 || sem < 0 || msg < 0;
}
`,
  );
  await promisify(execFile)('gcc', ['-static', '-O2', '-o', ipcHelper, `${ipcHelper}.c`]);
  const fn = await startContainer(images.busybox, scripted, {
    mounts: [{ Type: 'bind', Source: ipcHelper, Target: '/.faasbox/ipc-leftovers', ReadOnly: true }],
  });

  const ipcLines = 'echo "ipc lines $(cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | wc -l)"';
  // One line: the function reads its script with `read`.
  const leave = [
    'echo secret > /tmp/file;',
    'mkdir -p /tmp/locked/inner && echo secret > /tmp/locked/inner/file && chmod 000 /tmp/locked/inner /tmp/locked;',
    'ln -s /nonexistent /tmp/dangling;',
    'echo secret > /dev/shm/segment;',
    'touch /dev/mqueue/queue;',
    '/.faasbox/ipc-leftovers;',
    'export LEAK=secret;',
    'sleep 1000 &',
    "(setsid sh -c 'sleep 1001' &) &",
    "(sh -c 'kill -STOP $$; sleep 1002' &) &",
    '(while :; do echo leak; sleep 0.01; done) &',
    // Until the three sleeps run (10 s at most): a loaded machine may start them late.
    `n=0; while [ $n -lt 200 ] && [ "$(${listOthers} | grep -c 'sleep 100[012]')" -lt 3 ]; do sleep 0.05; n=$((n+1)); done;`,
    `${listOthers};`,
    'ls -A /tmp /dev/shm /dev/mqueue;',
    // One write per line: the leak loop writes between them.
    ipcLines,
  ].join(' ');
  const first = await fn.call(`${leave}\n`);
  const left = first.stdout.toString();
  assert.equal(first.reports, [exited(0), clean], first.stderr.toString());
  for (const expected of ['sleep 1000', 'sleep 1001', 'sleep 1002', 'leak', 'dangling', 'file', 'locked', 'segment', 'queue', 'ipc ']) {
    assert.ok(left.includes(expected), `the first call left ${expected}: ${left}`);
  }
  assert.ok(left.includes('ipc lines 6\n'), 'one object of each IPC kind, each kind below its header line');

  const look = ['echo "LEAK=${LEAK-unset}"', listOthers, 'ls -A /tmp /dev/shm /dev/mqueue', ipcLines].join('; ');
  const second = await fn.call(`${look}\n`);
  assert.equal(second.reports, [exited(0), clean]);
  assert.is(second.stderr.toString(), '');
  assert.is(second.stdout.toString(), 'LEAK=unset\n/dev/mqueue:\n\n/dev/shm:\n\n/tmp:\nipc lines 3\n', 'no process, file, variable or IPC object of the first call');
  assert.not.ok(second.frames.some((frame) => frame.type === 'stdout' && frame.bytes.includes('leak')));
  assert.is(await fn.end(), 0);
});

test('(engine) exit codes, signals and stderr are reported per execution, and the next one runs as usual', async () => {
  const fn = await startContainer(images.busybox, scripted);
  const failed = await fn.call('echo out; echo err >&2; exit 3\n');
  assert.equal(failed.frames, [{ type: 'stdout', bytes: Buffer.from('out\n') }, { type: 'stderr', bytes: Buffer.from('err\n') }, exited(3), clean]);
  const killed = await fn.call('echo before; kill -9 $$\n');
  assert.equal(killed.reports, [exited(137, 9), clean]);
  assert.is(killed.stdout.toString(), 'before\n');
  const fine = await fn.call('cat\nafter');
  assert.equal(fine.frames, [{ type: 'stdout', bytes: Buffer.from('after') }, exited(0), clean]);
  assert.is(await fn.end(), 0);
});

test('(engine) a command that cannot be run gives F and a clean container, which runs it once it can', async () => {
  // The command lives in a read-only bind of a host directory, so the test can provide it later.
  const functionDir = mkdtempSync(join(workdir, 'fn-'));
  chmodSync(functionDir, 0o755);
  const fn = await startContainer(images.busybox, ['/fn/handler'], {
    mounts: [{ Type: 'bind', Source: functionDir, Target: '/fn', ReadOnly: true }],
  });
  const missing = await fn.call(randomBytes(100 * 1024));
  assert.equal(missing.frames, [{ type: 'execFailed', message: 'exec /fn/handler failed: No such file or directory' }, clean]);

  writeFileSync(join(functionDir, 'handler'), '#!/bin/sh\necho "works: $(cat)"\n');
  chmodSync(join(functionDir, 'handler'), 0o644);
  const notExecutable = await fn.call('x');
  assert.equal(notExecutable.frames, [{ type: 'execFailed', message: 'exec /fn/handler failed: Permission denied' }, clean]);

  chmodSync(join(functionDir, 'handler'), 0o755);
  const works = await fn.call('nonce');
  assert.equal(works.frames, [{ type: 'stdout', bytes: Buffer.from('works: nonce\n') }, exited(0), clean]);
  assert.is(await fn.end(), 0);
});

test('(engine) in a scratch image with no shell and no libc, reuse serves two executions', async () => {
  const fn = await startContainer(images.probe, ['/probe', 'tmp']);
  for (let index = 0; index < 2; index++) {
    // The probe does not read its stdin: the agent drops it.
    const call = await fn.call(randomBytes(100 * 1024));
    assert.equal(call.frames, [{ type: 'stdout', bytes: Buffer.from('mode=1777 uid=0 write=ok\n') }, exited(0), clean]);
  }
  assert.is(await fn.end(), 0);
});

test('(engine) variables of a go are its execution\'s alone: the next without them sees the config\'s, the next with another value that one; docker inspect shows none', async () => {
  const fn = await startContainer(images.busybox, scripted, { env: ['SECRET_X=from the config'] });
  const look = 'echo "$SECRET_X|${OTHER-unset}"\n';
  const first = await fn.call(look, { SECRET_X: SECRET, OTHER: 'o' });
  assert.equal(first.frames, [{ type: 'stdout', bytes: Buffer.from(`${SECRET}|o\n`) }, exited(0), clean]);
  // An execution that exports the variable and leaves a process holding it changes nothing for the next.
  const leaves = await fn.call('export SECRET_X; sleep 1000 & echo left\n', { SECRET_X: SECRET });
  assert.equal(leaves.reports, [exited(0), clean]);
  const without = await fn.call(look);
  assert.equal(without.frames, [{ type: 'stdout', bytes: Buffer.from('from the config|unset\n') }, exited(0), clean]);
  const changed = await fn.call(look, { SECRET_X: OTHER_SECRET });
  assert.equal(changed.frames, [{ type: 'stdout', bytes: Buffer.from(`${OTHER_SECRET}|unset\n`) }, exited(0), clean]);

  // A refused env fails that execution alone; the framing holds and the container serves on.
  const refused = await fn.callWith(refusedGo(look));
  assert.equal(refused.frames, [REFUSED, clean]);
  const oversized = await fn.callWith(Buffer.concat([rawEnvGo(4, Buffer.alloc(70_000, SECRET), 5), Buffer.from('hello')]));
  assert.equal(oversized.frames, [{ type: 'execFailed', message: 'agent: env refused: 70000 bytes, more than 65536' }, clean]);
  const after = await fn.call(look);
  assert.equal(after.frames, [{ type: 'stdout', bytes: Buffer.from('from the config|unset\n') }, exited(0), clean]);

  const inspected = await fn.inspect();
  assert.ok(inspected.includes('from the config'));
  for (const value of [SECRET, OTHER_SECRET]) assert.not.ok(inspected.includes(value), 'docker inspect shows no secret');
  assert.is(await fn.end(), 0);
});

test('(engine) in a scratch image with no shell and no libc, each reused execution sees its own variables only', async () => {
  const fn = await startContainer(images.probe, ['/probe', 'env', 'SECRET_X']);
  const seen = async (env?: GoEnv) => (await fn.call('', env)).stdout.toString();
  assert.is(await seen({ SECRET_X: SECRET }), `SECRET_X=${SECRET}\n`);
  assert.is(await seen(), 'SECRET_X unset\n');
  assert.is(await seen({ SECRET_X: OTHER_SECRET }), `SECRET_X=${OTHER_SECRET}\n`);
  assert.is(await fn.end(), 0);
});

test('(engine) without --reuse the agent is one-shot as before: one execution, no C, the container exits with its status', async () => {
  const fn = await startContainer(images.busybox, ['sh', '-c', 'cat; exit 5'], { reuse: false });
  const exitCode = await fn.end(Buffer.concat([Buffer.from(GO_HEADER), Buffer.from('once')]));
  assert.equal(fn.log.frames, [{ type: 'ready' }, { type: 'stdout', bytes: Buffer.from('once') }, exited(5)]);
  assert.is(exitCode, 5);
});

test.run();
