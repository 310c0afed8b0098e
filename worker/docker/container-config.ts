/**
 * What the engine is asked to create for one execution: a fresh container locked down for
 * untrusted code (no network, read-only root, no capabilities, limits), labelled so that a
 * leftover can be traced to its execution and its worker.
 */
import type Docker from 'dockerode';
import type { ContainerRunSpec } from '../../src/ports/container-runtime.ts';

/** The operator's settings of the lock-down (see DockerRuntimeOptions for each one's meaning). */
export type LockDown = {
  workerId: string;
  allowRoot: boolean;
  pidsLimit: number;
  nanoCpus: number;
  tmpfsSizeMb: number;
  nofile: { soft: number; hard: number };
  init: boolean;
};

export const MiB = 1024 * 1024;
const NOBODY = '65534:65534';

export function containerConfig(spec: ContainerRunSpec, settings: LockDown): Docker.ContainerCreateOptions {
  const memoryBytes = spec.memoryMb * MiB;
  const labels = {
    'faasbox.execution': spec.executionId,
    'faasbox.worker': settings.workerId,
    'faasbox.correlation': spec.correlationId,
  };
  return {
    name: `faasbox-${spec.executionId}`,
    Image: spec.image,
    // An empty command would mean "nothing"; the port only knows "the image's own" (null).
    Cmd: spec.command && spec.command.length > 0 ? spec.command : undefined,
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    User: settings.allowRoot ? undefined : NOBODY,
    Labels: labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    // The engine closes the container's stdin when our attach connection closes its write side.
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Mounts: [scratchTmp(settings.tmpfsSizeMb, labels)],
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: settings.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: settings.nofile.soft, Hard: settings.nofile.hard }],
      // Memory equal to memory+swap: no swap, so the limit is what the function really gets.
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      NanoCpus: settings.nanoCpus,
      Init: settings.init,
      // Output is read from the attach stream and capped there; a log driver would only store a
      // second, uncapped copy on the engine's disk.
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}

/**
 * /tmp as every function author expects it, whatever the image: empty, sticky and writable by
 * all (1777), capped, not executable. A plain tmpfs mount (`Tmpfs`) cannot promise the mode:
 * runc before 1.1.8 (Debian 12 ships 1.1.5) chmods it back to the mode of the image's own /tmp,
 * 0755 root in many minimal images (opencontainers/runc#3911). A tmpfs volume is bind-mounted,
 * which runc leaves alone; `NoCopy` keeps the engine from copying the image's /tmp into it, its
 * mode included. The volume is anonymous and goes with the container (removed with `v`); it
 * carries the container's labels, so that one left behind can be traced to its execution.
 */
function scratchTmp(sizeMb: number, labels: Record<string, string>): Docker.MountSettings {
  return {
    Type: 'volume',
    // No name: an anonymous volume, created with the container.
    Source: '',
    Target: '/tmp',
    VolumeOptions: {
      NoCopy: true,
      Labels: labels,
      DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: `size=${sizeMb}m,mode=1777,noexec,nosuid,nodev` } },
    },
  };
}
