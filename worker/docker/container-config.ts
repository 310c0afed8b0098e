/**
 * What the engine is asked to create for one execution: a fresh container locked down for
 * untrusted code (no network, read-only root, no capabilities, limits), labelled so that a
 * leftover can be traced to its execution and its worker.
 */
import type Docker from 'dockerode';
import { attemptField } from '../../src/domain/execution-outcome.ts';
import { attemptKey } from '../../src/ports/job-bus.ts';

/** The operator's settings of the lock-down (see DockerRuntimeOptions for each one's meaning). */
export type LockDown = {
  workerId: string;
  allowRoot: boolean;
  pidsLimit: number;
  nanoCpus: number;
  tmpfsSizeMb: number;
  nofile: { soft: number; hard: number };
  /** The agent's binary as the engine's host sees it: bind-mounted read-only as the entrypoint. */
  agentPath: string;
};

/** What a function's containers are made from: the same for a cold start and a pre-started one. */
export type ContainerTemplate = {
  image: string;
  /** The function's command line, the image's entrypoint included (imageCommand in images.ts). */
  argv: string[];
  env: Record<string, string>;
  memoryMb: number;
  /** The agent serves one execution after another, cleaning up in between (reuse). */
  reuse: boolean;
};

/** Which container this is: an execution's (created for it), or one pre-started for a function. */
export type ContainerIdentity =
  | { role: 'execution'; executionId: string; attempt: number; correlationId: string }
  | { role: 'prestarted'; functionId: string; ownerId: string; slotId: string };

export const MiB = 1024 * 1024;
const NOBODY = '65534:65534';
/** Where the agent is mounted: a path no image uses, at the root so it needs no directory of the image's. */
export const AGENT_TARGET = '/.faasbox-agent';
/** The agent's first argument when it serves one execution after another (worker/agent/protocol.ts). */
const REUSE_FLAG = '--reuse';

export function containerConfig(template: ContainerTemplate, identity: ContainerIdentity, settings: LockDown): Docker.ContainerCreateOptions {
  const memoryBytes = template.memoryMb * MiB;
  const labels = labelsOf(identity, settings.workerId);
  return {
    name: identity.role === 'execution' ? executionContainerName(identity.executionId, identity.attempt) : `faasbox-prestarted-${identity.slotId}`,
    Image: template.image,
    // The agent is PID 1: it reaps zombies as docker-init did, and it starts the function's
    // command only on the go (agent-session.ts). Cmd is that command in full, the image's
    // entrypoint included, because an Entrypoint set here replaces the image's.
    Entrypoint: [AGENT_TARGET],
    Cmd: template.reuse ? [REUSE_FLAG, ...template.argv] : template.argv,
    Env: Object.entries(template.env).map(([name, value]) => `${name}=${value}`),
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
      Mounts: [scratchTmp(settings.tmpfsSizeMb, labels), { Type: 'bind', Source: settings.agentPath, Target: AGENT_TARGET, ReadOnly: true }],
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: settings.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: settings.nofile.soft, Hard: settings.nofile.hard }],
      // Memory equal to memory+swap: no swap, so the limit is what the function really gets.
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      NanoCpus: settings.nanoCpus,
      Init: false,
      // Output is read from the attach stream and capped there; a log driver would only store a
      // second, uncapped copy on the engine's disk.
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}

/**
 * An execution's container is named after it. Labels cannot change once a container exists, so
 * a pre-started container taken by an execution is renamed to this: a reaper can then tell which
 * execution died with it.
 */
export const executionContainerName = (executionId: string, attempt: number): string =>
  `faasbox-${attemptKey({ executionId, ...attemptField(attempt) })}`;

/**
 * The execution a container ran, from its name as the engine lists it (`/faasbox-<id>`, or
 * `/faasbox-<id>-attempt-<n>` for a later attempt); null if none.
 */
export function executionOfContainerName(name: string | undefined): string | null {
  return CONTAINER_NAME.exec(name ?? '')?.[1] ?? null;
}

/** The attempt a container of an execution ran: from its label, else its name; 1 when neither says. */
export function attemptOfContainer(container: { Labels: Record<string, string>; Names: string[] }): number {
  const attempt = Number(container.Labels[ATTEMPT_LABEL] ?? CONTAINER_NAME.exec(container.Names[0] ?? '')?.[2] ?? 1);
  return Number.isSafeInteger(attempt) && attempt > 1 ? attempt : 1;
}

const CONTAINER_NAME = /^\/?faasbox-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-attempt-(\d+))?$/;

export const EXECUTION_LABEL = 'faasbox.execution';
/** On the container of an execution's later attempt (src/domain/retries.ts); absent for the first. */
export const ATTEMPT_LABEL = 'faasbox.attempt';
export const PRESTARTED_LABEL = 'faasbox.prestarted';
export const WORKER_LABEL = 'faasbox.worker';
/** A pre-started container's slot in its worker's pool: known to the pool before the container is. */
export const SLOT_LABEL = 'faasbox.slot';

function labelsOf(identity: ContainerIdentity, workerId: string): Record<string, string> {
  if (identity.role === 'execution') {
    return {
      [EXECUTION_LABEL]: identity.executionId,
      ...(identity.attempt > 1 ? { [ATTEMPT_LABEL]: String(identity.attempt) } : {}),
      [WORKER_LABEL]: workerId,
      'faasbox.correlation': identity.correlationId,
    };
  }
  return { [PRESTARTED_LABEL]: identity.functionId, [WORKER_LABEL]: workerId, [SLOT_LABEL]: identity.slotId, 'faasbox.owner': identity.ownerId };
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
