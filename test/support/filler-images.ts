/**
 * Images that take real room on a disk: each is busybox-static plus one file of random bytes
 * (random, so that no compression or layer sharing makes it smaller), a single layer of its own.
 * Made with `docker import` on the machine's engine and pushed to a loopback registry, so another
 * engine pulls them for real; the local tags are removed afterwards. Nothing comes from Docker Hub.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BUSYBOX = process.env.BUSYBOX ?? '/bin/busybox';
const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'true', 'ls', 'df'];
/** Imports and pushes at once: each writes its size twice (import, push) on the main engine's disk. */
const PARALLEL = 3;

const builds = new Map<string, Promise<string[]>>();

/**
 * `count` images `<registry>/faasbox/filler-<n>:1` (n from 1), default command `sh`, each with
 * `sizeMb` MiB of random bytes in /filler. Built once per registry, count and size.
 */
export function ensureFillerImages(registryAddress: string, count: number, sizeMb = 40): Promise<string[]> {
  const key = `${registryAddress} ${count} ${sizeMb}`;
  let build = builds.get(key);
  if (!build) {
    build = buildAll(registryAddress, count, sizeMb);
    build.catch(() => builds.delete(key));
    builds.set(key, build);
  }
  return build;
}

async function buildAll(registryAddress: string, count: number, sizeMb: number): Promise<string[]> {
  const references = Array.from({ length: count }, (_, index) => `${registryAddress}/faasbox/filler-${index + 1}:1`);
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-filler-'));
  try {
    const base = join(dir, 'base');
    buildBaseRootfs(base);
    let next = 0;
    const worker = async () => {
      while (next < references.length) {
        const index = next++;
        await buildOne(references[index] as string, base, join(dir, `image-${index + 1}`), sizeMb);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
    return references;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A MiB at a time: suites share one process, and a 40 MiB buffer each would skew their memory checks. */
function writeRandomFile(path: string, sizeMb: number): void {
  const chunk = Buffer.alloc(1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < sizeMb; written++) writeSync(fd, randomFillSync(chunk));
  } finally {
    closeSync(fd);
  }
}

function buildBaseRootfs(root: string): void {
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(root, sub), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
}

async function buildOne(reference: string, base: string, dir: string, sizeMb: number): Promise<void> {
  mkdirSync(dir);
  const filler = join(dir, 'filler');
  writeRandomFile(filler, sizeMb);
  const tar = join(dir, 'rootfs.tar');
  try {
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '-C', base, '.', '-C', dir, 'filler'], { timeout: 60_000 });
    rmSync(filler);
    await run('docker', ['import', '--change', 'CMD ["sh"]', '--change', 'ENV PATH=/bin', tar, reference], { timeout: 60_000 });
    await run('docker', ['push', '--quiet', reference], { timeout: 60_000 });
    await run('docker', ['image', 'rm', reference], { timeout: 60_000 });
  } catch (error) {
    await run('docker', ['image', 'rm', reference], { timeout: 60_000 }).catch(() => {});
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`filler image ${reference} could not be built: ${message}\n${stderr ?? ''}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
