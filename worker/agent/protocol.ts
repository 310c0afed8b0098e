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
 *   'F'  the function could not be started: a UTF-8 message ("exec nope failed: No such file or directory")
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
 */

/** Written to the agent's stdin to start the function: "FBXGO" and the protocol version 1. */
export const GO_HEADER = Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, 0x01, 0x00, 0x00]);

/** The reuse mode's go: "FBXGO", the protocol version 2, then the big-endian u32 length of the stdin that follows. */
export const GO_HEADER_REUSE = Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, 0x02, 0x00, 0x00]);

/** The 12 bytes that start one execution in reuse mode; exactly `stdinLength` bytes of stdin must follow. */
export function reuseGo(stdinLength: number): Uint8Array {
  if (!Number.isInteger(stdinLength) || stdinLength < 0 || stdinLength > 0xffff_ffff) throw new RangeError(`stdin of ${stdinLength} bytes`);
  const header = new Uint8Array(12);
  header.set(GO_HEADER_REUSE);
  new DataView(header.buffer).setUint32(8, stdinLength);
  return header;
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
