import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';
import { pinnedReference } from './image-reference.ts';
import type { RetryPolicy } from './retries.ts';

export type FunctionSpec = {
  name: string;
  /** The image as its owner named it (a tag, usually). */
  image: string;
  /**
   * What `image` named in its registry when this version was made (`sha256:…`): workers run
   * exactly that, however the tag moves later. Absent from functions created before pinning:
   * they run by tag until their next update.
   */
  imageDigest?: string;
  command: string[] | null;
  /**
   * Its environment. Values are stored encrypted under the owner's data key when `envEncrypted`
   * (src/commands/function-env.ts); functions created before that keep them as they were sent.
   */
  env: Record<string, string>;
  /** Whether `env`'s values are encrypted (absent: plaintext, as stored before secrets existed). */
  envEncrypted?: boolean;
  /** Environment variables whose values are the owner's secrets at each call: variable → secret name. */
  secrets?: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  /**
   * Pre-started containers each worker keeps for it from its creation on, called or not (0: only
   * while it is called). Absent from functions created before it existed: read it with minWarmOf.
   */
  minWarm?: number;
  /**
   * One container serves successive executions of it, one at a time, cleaned in between (its
   * owner's opt-in). Absent from functions created before it existed: read it with reuseOf.
   */
  reuse?: boolean;
  /** How its asynchronous executions are retried (src/domain/retries.ts); absent: never. */
  retry?: RetryPolicy;
};

export type FunctionDefinition = FunctionSpec & {
  functionId: string;
  ownerId: string;
  createdAt: string;
  /** The version this definition is: 1 at creation (absent from events stored before versions), then one more per update or rollback. */
  version?: number;
  /** When this version was made (absent: the creation's). */
  versionCreatedAt?: string;
  /** For a version made by a rollback: the earlier version it copies. */
  rolledBackFrom?: number;
};

export const versionOf = (definition: Pick<FunctionDefinition, 'version'>): number => definition.version ?? 1;

/** What an update may change: the spec but its name. */
export type FunctionChanges = Partial<Omit<FunctionSpec, 'name'>>;

export const minWarmOf = (definition: Pick<FunctionSpec, 'minWarm'>): number => definition.minWarm ?? 0;

export const reuseOf = (definition: Pick<FunctionSpec, 'reuse'>): boolean => definition.reuse ?? false;

/** The reference workers pull and run: pinned to the version's digest, or its tag for a version made before pinning. */
export const runnableImageOf = ({ image, imageDigest }: Pick<FunctionSpec, 'image' | 'imageDigest'>): string =>
  imageDigest ? pinnedReference(image, imageDigest) : image;

/**
 * What workers need to keep a function's containers ready before any call; null when it asks for
 * none. `env` must be opened first (src/commands/function-env.ts warmTargetFor): a worker starts
 * containers with it. Secrets are not in it: they reach a container only with a call.
 */
export const warmTargetOf = (definition: FunctionDefinition) => {
  const { functionId, ownerId, command, env, memoryMb, minWarm, reuse } = definition;
  return minWarm ? { functionId, ownerId, image: runnableImageOf(definition), command, env, memoryMb, reuse: reuse ?? false, minWarm } : null;
};

export type FunctionEvent =
  | DomainEvent<'FunctionCreated', FunctionDefinition>
  /** A new version, current from now on: the whole definition, so that every version reads alone. */
  | DomainEvent<'FunctionUpdated', FunctionDefinition>
  /** A new version that copies an earlier one (`rolledBackFrom`): an update, told apart for the audit. */
  | DomainEvent<'FunctionRolledBack', FunctionDefinition>
  | DomainEvent<'FunctionDeleted', { functionId: string; deletedAt: string; reason: 'deleted by owner' | 'owner deleted' }>;

export type FunctionState =
  | { status: 'absent' }
  /** `definition` is the current version; `versions` all of them, oldest first (the current last). */
  | { status: 'active'; definition: FunctionDefinition; versions: FunctionDefinition[] }
  | { status: 'deleted'; definition: FunctionDefinition; versions: FunctionDefinition[] };

export type FunctionCommand =
  | { type: 'CreateFunction'; functionId: string; ownerId: string; spec: FunctionSpec; now: Date }
  /**
   * `baseVersion`: the version the change was made against (If-Match, else the one current when
   * the request read it): another version current by the time it is decided is a conflict.
   */
  | { type: 'UpdateFunction'; requesterId: string; changes: FunctionChanges; baseVersion: number; now: Date }
  | { type: 'RollbackFunction'; requesterId: string; version: number; baseVersion: number; now: Date }
  /** `requesterId` null: the platform itself, removing the functions of a deleted user. */
  | { type: 'DeleteFunction'; requesterId: string | null; now: Date };

/** The parts of a definition that make it a version: what runs, and how. */
const specOf = ({ functionId: _, ownerId: __, createdAt: ___, version: ____, versionCreatedAt: _____, rolledBackFrom: ______, ...spec }: FunctionDefinition): FunctionSpec =>
  spec;

const sameSpec = (a: FunctionSpec, b: FunctionSpec) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** Keys sorted at every depth, and absent optional settings as their defaults, so equal specs compare equal. */
const canonical = (spec: FunctionSpec): unknown =>
  sortKeys({ ...spec, minWarm: spec.minWarm ?? 0, reuse: spec.reuse ?? false, envEncrypted: spec.envEncrypted ?? false, secrets: spec.secrets ?? {} });

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
};

/** A variable is either plain or a secret: one name for both would leave which one the function gets to chance. */
function checkVariables(spec: FunctionSpec) {
  const twice = Object.keys(spec.secrets ?? {}).filter((variable) => Object.hasOwn(spec.env, variable));
  if (twice.length > 0) {
    throw new DomainError('VariableTwice', `${twice.join(', ')} ${twice.length === 1 ? 'is' : 'are'} in both env and secrets: keep each variable in one`, undefined, {
      variables: twice,
    });
  }
}

function ownedActive(state: FunctionState, requesterId: string): Extract<FunctionState, { status: 'active' }> {
  if (state.status !== 'active') throw new DomainError('FunctionNotFound', 'no such function');
  if (state.definition.ownerId !== requesterId) throw new DomainError('NotFunctionOwner', 'the function belongs to another user');
  return state;
}

function checkBase(state: Extract<FunctionState, { status: 'active' }>, baseVersion: number) {
  const current = versionOf(state.definition);
  if (baseVersion !== current) {
    throw new DomainError('VersionConflict', `the function changed meanwhile: its current version is ${current}, not ${baseVersion}`, undefined, {
      currentVersion: current,
    });
  }
}

/** The next version of `state`'s function, made of `spec`. */
const nextVersion = (state: Extract<FunctionState, { status: 'active' }>, spec: FunctionSpec, now: Date, rolledBackFrom?: number): FunctionDefinition => {
  const { functionId, ownerId, createdAt } = state.definition;
  return {
    functionId,
    ownerId,
    ...spec,
    createdAt,
    version: versionOf(state.definition) + 1,
    versionCreatedAt: now.toISOString(),
    ...(rolledBackFrom === undefined ? {} : { rolledBackFrom }),
  };
};

export const functionDecider: Decider<FunctionCommand, FunctionEvent, FunctionState> = {
  initialState: () => ({ status: 'absent' }),

  evolve: (state, event) => {
    switch (event.type) {
      case 'FunctionCreated':
        return { status: 'active', definition: event.data, versions: [event.data] };
      case 'FunctionUpdated':
      case 'FunctionRolledBack':
        return state.status === 'active' ? { status: 'active', definition: event.data, versions: [...state.versions, event.data] } : state;
      case 'FunctionDeleted':
        return state.status === 'active' ? { ...state, status: 'deleted' } : state;
    }
  },

  decide: (command, state) => {
    switch (command.type) {
      case 'CreateFunction':
        if (state.status !== 'absent') throw new DomainError('FunctionAlreadyExists', 'the function already exists');
        checkVariables(command.spec);
        return [
          {
            type: 'FunctionCreated',
            data: {
              functionId: command.functionId,
              ownerId: command.ownerId,
              ...command.spec,
              createdAt: command.now.toISOString(),
            },
          },
        ];
      case 'UpdateFunction': {
        const active = ownedActive(state, command.requesterId);
        checkBase(active, command.baseVersion);
        const spec: FunctionSpec = { ...specOf(active.definition), ...command.changes };
        // The old digest is the old image's: a new image without one of its own runs by its tag.
        if (command.changes.image !== undefined && command.changes.imageDigest === undefined) delete spec.imageDigest;
        checkVariables(spec);
        // Nothing changes: no new version (a PATCH sent again is no second version).
        if (sameSpec(spec, specOf(active.definition))) return [];
        return [{ type: 'FunctionUpdated', data: nextVersion(active, spec, command.now) }];
      }
      case 'RollbackFunction': {
        const active = ownedActive(state, command.requesterId);
        checkBase(active, command.baseVersion);
        const target = active.versions.find((each) => versionOf(each) === command.version);
        if (!target) throw new DomainError('VersionNotFound', `the function has no version ${command.version}`);
        return [{ type: 'FunctionRolledBack', data: nextVersion(active, specOf(target), command.now, command.version) }];
      }
      case 'DeleteFunction': {
        if (state.status !== 'active') throw new DomainError('FunctionNotFound', 'no such function');
        const byOwner = command.requesterId !== null;
        if (byOwner && state.definition.ownerId !== command.requesterId) {
          throw new DomainError('NotFunctionOwner', 'the function belongs to another user');
        }
        return [
          {
            type: 'FunctionDeleted',
            data: {
              functionId: state.definition.functionId,
              deletedAt: command.now.toISOString(),
              reason: byOwner ? 'deleted by owner' : 'owner deleted',
            },
          },
        ];
      }
    }
  },
};
