/**
 * The worker's side of the agent's protocol (worker/agent/faasbox-agent.c is the other side).
 *
 * The agent is the container's PID 1. It announces itself with a `ready` frame, then waits for
 * GO_HEADER on its stdin; everything after the header is the function's stdin, passed to the
 * function as the agent's own fd 0. The function's stdout and stderr are pipes the agent reads:
 * it never gives the function its own stdout, so the function cannot write a frame, only bytes
 * the agent frames. Each frame is a type byte, a big-endian u32 payload length, the payload:
 *
 *   'R'  ready, empty: the agent runs and waits for GO_HEADER
 *   'O'  bytes the function wrote to stdout
 *   'E'  bytes the function wrote to stderr
 *   'X'  the function's exit: i32 status as a shell gives it (the code, or 128 + the signal), u8 signal (0: exited)
 *   'F'  the function could not be started: a UTF-8 message ("exec nope failed: No such file or directory",
 *        "agent: env refused: variable 2: its name holds '=' or NUL")
 *   'C'  reuse only, empty: the container is clean again and the agent waits for the next go
 *   'D'  reuse only: a UTF-8 reason why the container could not be cleaned; the agent exits
 *
 * In the default, one-shot mode the agent exits after 'X' or 'F', and with it the container.
 *
 * Reuse (`faasbox-agent --reuse CMD...`): one container serves successive executions of one
 * function, each of which must find it as the first did, since it may be another caller's. Each
 * go is reuseGo(n) followed by exactly n bytes of stdin, which the agent passes to a new process
 * of CMD through a pipe. After 'X' or 'F' the agent kills every other process of the container,
 * empties /tmp, /dev/shm and /dev/mqueue, removes SysV IPC objects, then sends 'C' and reads the
 * next go; or sends 'D' and exits, and the container must be discarded. EOF instead of a go ends it.
 * The agent must be the container's PID 1: as a plain process it always ends with 'D'.
 *
 * Variables for the function's environment (the owner's secrets, Job.secretEnv) travel in the go,
 * never in the container's config: a pre-started or reused container is made before the call, its
 * config is what `docker inspect` shows and what a warm target (stored on the bus) describes, and
 * a secret changed since must hold from the next call on. A go with variables is version 3
 * (one-shot, oneShotGo) or 4 (reuse, reuseGo), and is the go of its mode with an env part
 * between the 8-byte header and the rest:
 *
 *   version 3:  "FBXGO" 3 0 0 | u32 env length | env block | stdin to EOF
 *   version 4:  "FBXGO" 4 0 0 | u32 env length | env block | u32 stdin length | stdin
 *   env block:  per variable, u32 name length, name, u32 value length, value (UTF-8, big-endian u32s)
 *
 * Length-prefixed rather than `NAME=value\0`, so that the agent can tell a name holding '=' or a
 * value holding NUL from two variables and refuse it, instead of setting what nobody meant. The
 * agent refuses an empty name, a name holding '=' or NUL, a value holding NUL, and a block over
 * MAX_GO_ENV_BYTES with an 'F' that names the variable's position and the rule, never a value;
 * nothing runs (reuse: the container is cleaned and serves the next go). It sets the variables
 * in the function's process only, over the config's by the same name, between fork and exec: its
 * own environment, which the next execution of a reused container inherits, never holds them.
 * Without variables the worker sends version 1 or 2, byte for byte as before, so an agent built
 * before versions 3 and 4 still serves every function that has no secrets.
 */

/** Written to the agent's stdin to start the function: "FBXGO" and the protocol version 1. */
export const GO_HEADER = Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, 0x01, 0x00, 0x00]);

/** The reuse mode's go: "FBXGO", the protocol version 2, then the big-endian u32 length of the stdin that follows. */
export const GO_HEADER_REUSE = Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, 0x02, 0x00, 0x00]);

/** The most bytes of env block a go may carry (the agent's MAX_ENV): 8 per variable, plus its name and value in UTF-8. */
export const MAX_GO_ENV_BYTES = 65_536;

/** Variables for the function's process, given with the go; absent or empty: none. */
export type GoEnv = Readonly<Record<string, string>>;

/**
 * Why the agent would refuse `env` (the same rules it checks), or null. Names the variable, which
 * is part of the function's definition, never its value.
 */
export function goEnvProblem(env: GoEnv | undefined): string | null {
  let bytes = 0;
  for (const [name, value] of Object.entries(env ?? {})) {
    if (name === '') return 'env refused: a variable has an empty name';
    if (/[=\0]/.test(name)) return `env refused: variable ${JSON.stringify(name)}: its name holds '=' or NUL`;
    if (value.includes('\0')) return `env refused: variable ${JSON.stringify(name)}: its value holds NUL`;
    bytes += 8 + utf8.encode(name).length + utf8.encode(value).length;
  }
  return bytes > MAX_GO_ENV_BYTES ? `env refused: ${bytes} bytes, more than ${MAX_GO_ENV_BYTES}` : null;
}

/** The first bytes of a one-shot go: GO_HEADER, or with variables version 3 and its env part; stdin follows to EOF. */
export function oneShotGo(env?: GoEnv): Uint8Array {
  const part = envPart(env);
  return part ? concat([versionHeader(3), part]) : GO_HEADER;
}

/**
 * The bytes that start one execution in reuse mode: version 2 (12 bytes), or with variables
 * version 4; exactly `stdinLength` bytes of stdin must follow.
 */
export function reuseGo(stdinLength: number, env?: GoEnv): Uint8Array {
  if (!Number.isInteger(stdinLength) || stdinLength < 0 || stdinLength > 0xffff_ffff) throw new RangeError(`stdin of ${stdinLength} bytes`);
  const part = envPart(env);
  return concat([part ? versionHeader(4) : GO_HEADER_REUSE, ...(part ? [part] : []), u32(stdinLength)]);
}

const utf8 = new TextEncoder();

const versionHeader = (version: 3 | 4) => Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, version, 0x00, 0x00]);

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
}

const concat = (parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

/** The env length and block, or null without variables. Throws (naming no value) what the agent would refuse. */
function envPart(env: GoEnv | undefined): Uint8Array | null {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return null;
  const problem = goEnvProblem(env);
  if (problem) throw new RangeError(problem);
  const block = entries.flatMap(([name, value]) => {
    const [nameBytes, valueBytes] = [utf8.encode(name), utf8.encode(value)];
    return [u32(nameBytes.length), nameBytes, u32(valueBytes.length), valueBytes];
  });
  const bytes = concat(block);
  return concat([u32(bytes.length), bytes]);
}

export type AgentFrame =
  | { type: 'ready' }
  | { type: 'stdout'; bytes: Buffer }
  | { type: 'stderr'; bytes: Buffer }
  | { type: 'exit'; status: number; signal: number }
  | { type: 'execFailed'; message: string }
  | { type: 'clean' }
  | { type: 'dirty'; message: string }
  /** Not a frame the agent writes: what reached the worker was not the protocol (an agent of another version, or none). */
  | { type: 'garbled'; detail: string };

const HEADER_BYTES = 5;
/** The agent sends at most 64 KiB per output frame; a length far above that is not the protocol. */
const MAX_PAYLOAD = 1024 * 1024;

/**
 * Reads the agent's frames from the bytes of its stdout as they arrive, in any chunks. After a
 * `garbled` frame it reads nothing more.
 */
export function agentFrameReader(onFrame: (frame: AgentFrame) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let broken = false;
  return (chunk) => {
    if (broken) return;
    const data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const type = String.fromCharCode(data[offset] as number);
      const length = data.readUInt32BE(offset + 1);
      if (!'ROEXFCD'.includes(type) || length > MAX_PAYLOAD) {
        broken = true;
        onFrame({ type: 'garbled', detail: `frame type 0x${(data[offset] as number).toString(16)}, length ${length}` });
        return;
      }
      const end = offset + HEADER_BYTES + length;
      if (end > data.length) break;
      const payload = data.subarray(offset + HEADER_BYTES, end);
      offset = end;
      const frame = decodeFrame(type, payload);
      if (frame.type === 'garbled') broken = true;
      onFrame(frame);
      if (broken) return;
    }
    pending = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
  };
}

function decodeFrame(type: string, payload: Buffer): AgentFrame {
  switch (type) {
    case 'R':
      return { type: 'ready' };
    case 'O':
      return { type: 'stdout', bytes: payload };
    case 'E':
      return { type: 'stderr', bytes: payload };
    case 'X':
      if (payload.length !== 5) return { type: 'garbled', detail: `exit frame of ${payload.length} bytes` };
      return { type: 'exit', status: payload.readInt32BE(0), signal: payload[4] as number };
    case 'C':
      return { type: 'clean' };
    case 'D':
      return { type: 'dirty', message: payload.toString('utf8') };
    default:
      return { type: 'execFailed', message: payload.toString('utf8') };
  }
}
