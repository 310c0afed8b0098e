import { type FunctionDefinition, type FunctionSpec, functionDecider } from '../domain/functions.ts';
import { describeError } from '../ports/logger.ts';
import { functionStream } from '../domain/streams.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { checkSecretsExist, sealEnv, warmTargetFor } from './function-env.ts';
import { handleCommand } from './handle-command.ts';
import { pinImage } from './pin-image.ts';

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'keys' | 'images' | 'clock' | 'newId' | 'log'> & ReadYourWrites;

/** Registers a function whose first version runs the digest its image's tag names now. */
export async function createFunction(
  deps: Deps,
  ownerId: string,
  spec: Omit<FunctionSpec, 'imageDigest'>,
  correlationId: string,
): Promise<FunctionDefinition> {
  const imageDigest = await pinImage(deps, spec.image);
  const functionId = deps.newId();
  await checkSecretsExist(deps, ownerId, spec.secrets);
  const stored: FunctionSpec = { ...spec, imageDigest, env: await sealEnv(deps.keys, { functionId, ownerId }, spec.env), envEncrypted: true };
  const result = await handleCommand(
    deps.store,
    functionDecider,
    functionStream(functionId),
    { type: 'CreateFunction', functionId, ownerId, spec: stored, now: deps.clock.now() },
    commandContext(deps, correlationId),
  );
  if (result.state.status !== 'active') throw new Error('function creation recorded nothing');
  const { definition } = result.state;
  const target = await warmTargetFor(deps.keys, definition);
  if (target) {
    // The function exists either way: a target the bus could not take now is set by the api's
    // periodic sync (processes/warm-target-sync.ts).
    await deps.bus.setWarmTarget(functionId, target).catch((error: unknown) =>
      deps.log('warn', 'warm target not set yet', { functionId, correlationId, ...describeError(error) }),
    );
  }
  await awaitProjections(deps, result.position);
  return definition;
}
