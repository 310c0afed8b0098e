/**
 * The machine a run measured: ratios travel between machines better than absolute figures, but
 * neither means much without knowing the cores, the disk and the engine they came from.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const root = fileURLToPath(new URL('..', import.meta.url));

export type Machine = {
  cpus: number;
  model: string;
  memoryMb: number;
  os: string;
  kernel: string;
  node: string;
  bun: string | null;
  docker: { version: string; storageDriver: string; cgroupVersion: string } | null;
  natsServer: string | null;
  date: string;
};

export async function describeMachine(docker: Docker): Promise<Machine> {
  const [engine, bun, natsServer] = await Promise.all([
    engineFacts(docker),
    versionOf(join(root, 'node_modules', '.bin', 'bun'), ['--version']),
    versionOf('nats-server', ['--version']),
  ]);
  return {
    cpus: os.availableParallelism(),
    model: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    os: prettyOsName() ?? `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    bun,
    docker: engine,
    natsServer,
    date: new Date().toISOString(),
  };
}

/** One line for the README and the end of the table. */
export const summarizeMachine = (machine: Machine) =>
  [
    `${machine.cpus} × ${machine.model}`,
    `${Math.round(machine.memoryMb / 1024)} GB`,
    machine.os,
    `Node ${machine.node}`,
    machine.bun ? `Bun ${machine.bun}` : null,
    machine.docker ? `Docker ${machine.docker.version} (${machine.docker.storageDriver}, cgroup v${machine.docker.cgroupVersion})` : 'no Docker',
    machine.natsServer,
  ]
    .filter(Boolean)
    .join(', ');

async function engineFacts(docker: Docker): Promise<Machine['docker']> {
  try {
    const [version, info] = await Promise.all([docker.version(), docker.info() as Promise<Record<string, unknown>>]);
    return { version: version.Version, storageDriver: String(info['Driver'] ?? '?'), cgroupVersion: String(info['CgroupVersion'] ?? '?') };
  } catch {
    return null;
  }
}

async function versionOf(command: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { timeout: 10_000 });
    return stdout.trim().split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

function prettyOsName(): string | null {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}
