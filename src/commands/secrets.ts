import { encryptValue } from '../auth/envelope.ts';
import { DomainError } from '../domain/errors.ts';
import { secretPurpose, secretsDecider, type StoredSecret } from '../domain/secrets.ts';
import { secretsStream } from '../domain/streams.ts';
import type { CommandDeps } from './deps.ts';
import { commandContext } from './context.ts';
import { keyToSeal } from './data-keys.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'keys' | 'clock' | 'newId' | 'projections'>;

/** What is said of a secret: never its value. */
export type SecretInfo = Omit<StoredSecret, 'value'>;

const infoOf = ({ name, createdAt, updatedAt }: StoredSecret): SecretInfo => ({ name, createdAt, updatedAt });

/** Sets the caller's secret, encrypted under their data key before it is stored; `created` when it is new. */
export async function setSecret(deps: Deps, userId: string, name: string, value: string, correlationId: string): Promise<{ secret: SecretInfo; created: boolean }> {
  const encrypted = await encryptValue(value, await keyToSeal(deps.keys, userId), { userId, purpose: secretPurpose(name) });
  const result = await handleCommand(
    deps.store,
    secretsDecider,
    secretsStream(userId),
    { type: 'SetSecret', userId, name, value: encrypted, now: deps.clock.now() },
    commandContext(deps, correlationId),
  );
  return { secret: infoOf(result.state.secrets[name]!), created: result.events[0]?.type === 'SecretCreated' };
}

/**
 * Deletes the caller's secret. One that a function of theirs still takes is refused: its next
 * call would fail; the functions are named so the caller can change them first.
 */
export async function deleteSecret(deps: Deps, userId: string, name: string, correlationId: string): Promise<void> {
  const users = deps.projections.functions
    .listByOwner(userId)
    .filter((definition) => Object.values(definition.secrets ?? {}).includes(name))
    .map((definition) => definition.name);
  if (users.length > 0) {
    throw new DomainError('SecretInUse', `the secret ${name} is taken by ${users.join(', ')}: update or delete them first`, undefined, { functions: users });
  }
  await handleCommand(deps.store, secretsDecider, secretsStream(userId), { type: 'DeleteSecret', userId, name, now: deps.clock.now() }, commandContext(deps, correlationId));
}

/** The caller's secrets, by name, without their values. */
export const secretInfos = (secrets: Record<string, StoredSecret>): SecretInfo[] =>
  Object.values(secrets)
    .map(infoOf)
    .sort((a, b) => a.name.localeCompare(b.name));
