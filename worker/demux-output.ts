import type { Readable, Writable } from 'node:stream';

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
