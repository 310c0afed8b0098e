/**
 * `node --cpu-prof` for a process whose command line the bench does not write: Node refuses
 * --cpu-prof in NODE_OPTIONS, but takes `--import` of this file there. It profiles from load to
 * exit and writes a .cpuprofile (Chrome DevTools, speedscope) into $BENCH_PROFILE_DIR.
 * Plain JavaScript: it loads before tsx does.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 100 });
  session.post('Profiler.start');
  // The in-process inspector answers synchronously, so the profile is written before the exit.
  process.once('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error) return;
      const role = process.argv[2] ?? 'all';
      writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
