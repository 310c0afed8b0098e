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
 *
 * After 'X' or 'F' the agent exits, and with it the container.
 */

/** Written to the agent's stdin to start the function: "FBXGO" and the protocol version 1. */
export const GO_HEADER = Uint8Array.from([0x46, 0x42, 0x58, 0x47, 0x4f, 0x01, 0x00, 0x00]);

export type AgentFrame =
  | { type: 'ready' }
  | { type: 'stdout'; bytes: Buffer }
  | { type: 'stderr'; bytes: Buffer }
  | { type: 'exit'; status: number; signal: number }
  | { type: 'execFailed'; message: string }
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
      if (!'ROEXF'.includes(type) || length > MAX_PAYLOAD) {
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
    default:
      return { type: 'execFailed', message: payload.toString('utf8') };
  }
}
