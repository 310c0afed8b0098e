/**
 * A real image registry for integration tests: Debian's `docker-registry` (distribution 2.x),
 * plain HTTP on loopback, a free port, a throw-away storage directory. The Docker engine allows
 * plain HTTP to 127.0.0.0/8 without any daemon configuration (`docker info` lists it under
 * "Insecure Registries"), so nothing on the machine has to change.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, freePort, killChild, startServiceProcess } from './service-process.ts';

export type Registry = {
  /** host:port, the prefix of the image references it serves, e.g. `127.0.0.1:41234`. */
  address: string;
  /** Where it stores images: another registry started on it serves the same ones. */
  storage: string;
  /** Kills the registry and removes its storage (unless it was another's). */
  stop(): Promise<void>;
};

export type RegistryOptions = {
  /** Serve the images of this storage (another registry's) instead of a new, empty one. */
  storage?: string;
  /** More of the registry's configuration (YAML lines), e.g. an `auth:` section. */
  config?: string[];
};

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-registry-'));
  const storage = options.storage ?? join(dir, 'storage');
  const configFile = join(dir, 'config.yml');
  const port = await freePort();
  const address = `${LOOPBACK}:${port}`;
  writeFileSync(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );

  let child: ChildProcess;
  try {
    // A registry behind token authentication answers 401 to an anonymous client: it answers all the same.
    child = await startServiceProcess('docker-registry', ['serve', configFile], () => answersV2(address, options.config !== undefined));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    await killChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  return { address, storage, stop };
}

async function answersV2(address: string, challenges: boolean): Promise<boolean> {
  const response = await fetch(`http://${address}/v2/`).catch(() => null);
  return response?.status === 200 || (challenges && response?.status === 401);
}
