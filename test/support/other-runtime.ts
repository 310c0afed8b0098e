/**
 * Runs a uvu test file under Bun or Deno (the binaries installed from npm) and checks what uvu
 * printed: every suite ran every test it defines, and passed. A failure quotes the whole output.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type OtherRuntime = 'bun' | 'deno';

/**
 * `file` relative to the repository; `denoPermissions` as `deno run` flags (Bun has none).
 * Resolves once the run ended and its output was checked against `suites` (name prefixes).
 */
export async function passesUnder(
  runtime: OtherRuntime,
  file: string,
  { suites, denoPermissions = [] }: { suites: string[]; denoPermissions?: string[] },
): Promise<void> {
  const args = runtime === 'bun' ? [file] : ['run', ...denoPermissions, file];
  const { code, output } = await run(join(root, 'node_modules', '.bin', runtime), args);
  const summary = `${runtime} ${args.join(' ')} exited ${code}:\n${output}`;
  assert.is(code, 0, summary);
  // uvu prints each suite as `name  • • •  (passed / defined)`.
  const printed = [...output.matchAll(/^\s*(.+?)\s+[•✘ ]+\((\d+) \/ (\d+)\)\s*$/gm)];
  for (const name of suites) {
    const line = printed.find((match) => match[1]?.startsWith(name));
    assert.ok(line, `suite ${name}… did not run: ${summary}`);
    assert.ok(Number(line[3]) > 0 && line[2] === line[3], `${line[0].trim()}: ${summary}`);
  }
  assert.match(output, /Skipped:\s+0/, summary);
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.replace(/\x1b\[[0-9;]*m/g, '') });
    });
  });
}
