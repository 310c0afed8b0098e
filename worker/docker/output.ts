/**
 * A container's output, as the worker reads it from the attach stream: split into stdout and
 * stderr, and capped.
 */
import { type Duplex, type Readable, Writable } from 'node:stream';

export type CappedCollector = {
  /** Where the demultiplexer writes. */
  sink: Writable;
  readonly truncated: boolean;
  /** What was kept, as UTF-8 (invalid bytes replaced). */
  text(): string;
};

/**
 * Keeps the first `limit` bytes written and only counts the rest, so that a container writing
 * a gigabyte costs `limit` bytes of memory, not a gigabyte. It keeps consuming after the cap:
 * a container blocked on a full pipe would never exit.
 */
export function cappedCollector(limit: number): CappedCollector {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let droppedBytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const room = limit - keptBytes;
      if (room > 0) {
        // A copy: the chunk may be a view into a larger buffer that would stay alive with it.
        const part = Buffer.from(chunk.subarray(0, room));
        kept.push(part);
        keptBytes += part.length;
      }
      droppedBytes += Math.max(0, chunk.length - Math.max(room, 0));
      done();
    },
  });
  return {
    sink,
    get truncated() {
      return droppedBytes > 0;
    },
    text() {
      const bytes = Buffer.concat(kept, keptBytes);
      return (droppedBytes > 0 ? withoutCutCharacter(bytes) : bytes).toString('utf8');
    },
  };
}

/** The cap may cut a multi-byte character in two; drop its first half rather than show U+FFFD. */
function withoutCutCharacter(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}

/**
 * Splits the engine's multiplexed attach stream (frames of an 8-byte header — stream type,
 * three zero bytes, big-endian length — then the payload) into stdout and stderr.
 * docker-modem's demuxStream recurses once per frame and copies the rest of its buffer at
 * each: a function that writes a byte at a time can put thousands of frames in one chunk, which
 * costs quadratic time and can overflow the worker's stack. This loop walks the frames of a
 * chunk in place and keeps only an unfinished frame's bytes.
 */
export function demuxOutput(stream: Readable, stdout: Writable, stderr: Writable): void {
  let pending: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    const data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const length = data.readUInt32BE(offset + 4);
      const end = offset + HEADER_BYTES + length;
      if (end > data.length) break;
      const payload = data.subarray(offset + HEADER_BYTES, end);
      // Type 1 is stdout, 2 stderr; the engine sends nothing else on an attach without a TTY.
      if (data[offset] === STDERR) stderr.write(payload);
      else stdout.write(payload);
      offset = end;
    }
    pending = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
  });
}

const HEADER_BYTES = 8;
const STDERR = 2;

/** Resolves when the attach stream has ended or closed: no more output will come. */
export function endOf(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}
