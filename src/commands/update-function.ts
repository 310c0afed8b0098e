import { DomainError } from '../domain/errors.ts';
import { type FunctionChanges, type FunctionCommand, type FunctionDefinition, type FunctionState, functionDecider, versionOf, warmTargetOf } from '../domain/functions.ts';
import type { KeyStore } from '../ports/key-store.ts';
import { functionStream } from '../domain/streams.ts';
import { describeError } from '../ports/logger.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { checkSecretsExist, sealEnv, warmTargetFor } from './function-env.ts';
import { handleCommand, readState } from './handle-command.ts';
import { pinImage } from './pin-image.ts';

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'keys' | 'images' | 'clock' | 'newId' | 'log'> & ReadYourWrites;

/**
 * Makes a new version of the caller's function current: `changes` applied to the current one.
 * Decided at the stream's revision against the version the request started from (`ifMatch`, else
 * the one current when it was read): of two updates at once one wins, the other is refused.
 *
 * A change that names the image resolves it again, even to the same tag: that is how a moved tag
 * is deployed (an unmoved one changes nothing, so makes no version). A version made before
 * pinning is pinned by its next update, whatever that changes.
 */
export const updateFunction = (
  deps: Deps,
  requesterId: string,
  functionId: string,
  changes: Omit<FunctionChanges, 'imageDigest'>,
  ifMatch: number | null,
  correlationId: string,
) =>
  changeVersion(deps, functionId, ifMatch, correlationId, async (read, baseVersion, now) => {
    // Not the caller's to change: the decider refuses it, and no registry is asked nor key used on a stranger's behalf.
    const current = read.status === 'active' && read.definition.ownerId === requesterId ? read.definition : null;
    await checkSecretsExist(deps, requesterId, changes.secrets);
    const image = changes.image ?? (current?.imageDigest === undefined ? current?.image : undefined);
    const pinned = current && image !== undefined ? { image, imageDigest: await pinImage(deps, image) } : {};
    const sealed = current && changes.env ? await sealedChanges(deps.keys, current, changes.env) : {};
    return { type: 'UpdateFunction', requesterId, changes: { ...changes, ...pinned, ...sealed }, baseVersion, now };
  });

/** A new environment as the version stores it: encrypted, keeping the current version's ciphertext for values unchanged. */
const sealedChanges = async (keys: KeyStore, current: FunctionDefinition, env: Record<string, string>): Promise<FunctionChanges> => ({
  env: await sealEnv(keys, current, env, current),
  envEncrypted: true,
});

/** Makes a copy of an earlier version the current one (a new version, `rolledBackFrom` it: its digest too, so it runs the same bytes). */
export const rollbackFunction = (deps: Deps, requesterId: string, functionId: string, version: number, ifMatch: number | null, correlationId: string) =>
  changeVersion(deps, functionId, ifMatch, correlationId, async (_read, baseVersion, now) => ({ type: 'RollbackFunction', requesterId, version, baseVersion, now }));

async function changeVersion(
  deps: Deps,
  functionId: string,
  ifMatch: number | null,
  correlationId: string,
  command: (read: FunctionState, baseVersion: number, now: Date) => Promise<FunctionCommand>,
): Promise<FunctionDefinition> {
  const stream = functionStream(functionId);
  const { state: read } = await readState(deps.store, functionDecider, stream);
  const baseVersion = ifMatch ?? (read.status === 'active' ? versionOf(read.definition) : 0);
  const decided = await command(read, baseVersion, deps.clock.now());
  let result;
  try {
    result = await handleCommand(deps.store, functionDecider, stream, decided, commandContext(deps, correlationId));
  } catch (error) {
    // The client named the version it changes (If-Match): HTTP calls its failure 412.
    if (ifMatch !== null && error instanceof DomainError && error.code === 'VersionConflict') {
      throw new DomainError('PreconditionFailed', error.message, undefined, error.details);
    }
    throw error;
  }
  if (result.state.status !== 'active') throw new Error('a function update left no active function');
  const { definition } = result.state;
  if (result.events.length > 0) await retireOldVersion(deps, result.state.versions.at(-2)!, definition, correlationId);
  await awaitProjections(deps, result.position);
  return definition;
}

/**
 * Another version is current: workers drop what they started for the old one now (a pool that
 * misses the announcement drops it when next asked), and the warm target follows the new one
 * (one the bus cannot take now is set by the api's periodic sync, processes/warm-target-sync.ts).
 */
async function retireOldVersion(deps: Pick<CommandDeps, 'bus' | 'keys' | 'log'>, previous: FunctionDefinition, definition: FunctionDefinition, correlationId: string) {
  const { functionId } = definition;
  const warn = (what: string) => (error: unknown) => deps.log('warn', what, { functionId, correlationId, ...describeError(error) });
  await deps.bus.announceFunctionRetired(functionId).catch(warn('old version not retired yet'));
  if (!warmTargetOf(previous) && !warmTargetOf(definition)) return;
  await warmTargetFor(deps.keys, definition)
    .then((target) => deps.bus.setWarmTarget(functionId, target))
    .catch(warn('warm target not updated yet'));
}
