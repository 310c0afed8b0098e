/**
 * Writes a line to stdout before returning, for children a test kills -9 and whose every printed
 * line it counts. process.stdout on a pipe is synchronous on Linux only while the pipe has room:
 * once the reader falls behind (a loaded machine) the rest is queued in the process and dies with
 * it, and a line the child "printed" never reaches the test.
 */
import { writeSync } from 'node:fs';

export function writeLineSync(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  for (let written = 0; written < bytes.length; ) {
    try {
      written += writeSync(1, bytes, written);
    } catch (error) {
      // A non-blocking pipe that is full: wait for the reader, as a blocking write would.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}
