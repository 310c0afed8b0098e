import { PassThrough, Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { demuxOutput } from '../worker/docker/output.ts';

const demux = suite('demultiplexing a container attach stream');

const frame = (type: 1 | 2, payload: string | Buffer) => {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
};

function collect() {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString('utf8') };
}

function run(chunks: Buffer[]) {
  const stream = new PassThrough();
  const stdout = collect();
  const stderr = collect();
  demuxOutput(stream, stdout.sink, stderr.sink);
  for (const chunk of chunks) stream.write(chunk);
  return { stdout: stdout.text(), stderr: stderr.text() };
}

demux('frames go to their stream whatever the chunk boundaries, headers split included', () => {
  const bytes = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(2, Buffer.alloc(0)), frame(1, 'é')]);
  for (let size = 1; size <= bytes.length; size++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
    assert.equal(run(chunks), { stdout: 'hello worldé', stderr: 'oops' }, `chunks of ${size} bytes`);
  }
});

demux('a hundred thousand one-byte frames in one chunk: no stack overflow, every byte kept', () => {
  const frames = Array.from({ length: 100_000 }, (_, i) => frame(i % 2 === 0 ? 1 : 2, String(i % 10)));
  const { stdout, stderr } = run([Buffer.concat(frames)]);
  assert.is(stdout.length, 50_000);
  assert.is(stderr.length, 50_000);
  assert.is(stdout.slice(0, 5), '02468');
  assert.is(stderr.slice(0, 5), '13579');
});

demux.run();
