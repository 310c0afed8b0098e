import { decryptValue, encryptValue } from '../auth/envelope.ts';
import { DomainError } from '../domain/errors.ts';
import { type FunctionDefinition, type FunctionSpec, warmTargetOf } from '../domain/functions.ts';
import { callSecretsBytes, MAX_CALL_SECRETS_BYTES, secretPurpose, secretsDecider, type SecretsState } from '../domain/secrets.ts';
import { secretsStream } from '../domain/streams.ts';
import type { CryptoKey } from '../lib/crypto-key.ts';
import type { KeyStore } from '../ports/key-store.ts';
import type { CommandDeps } from './deps.ts';
import { keyToOpen, keyToSeal } from './data-keys.ts';
import { readState } from './handle-command.ts';

/**
 * A function's environment in the event log: each value encrypted under its owner's data key,
 * bound to the function and the variable (a value copied elsewhere does not decrypt), so that
 * the owner's deletion leaves none of it readable. Names stay plain: the audit and the read
 * models show which variables a function has. Secrets are referenced by name and read at each
 * call, so a changed secret reaches the next call without a new version.
 */
export const envPurpose = (functionId: string, variable: string) => `env:${functionId}:${variable}`;

type Owned = Pick<FunctionDefinition, 'functionId' | 'ownerId'>;

/**
 * `env` as a version of `fn` stores it. A value equal to the current version's keeps that
 * version's ciphertext (a fresh encryption would differ every time), so a change sent again is
 * still no new version.
 */
export async function sealEnv(keys: KeyStore, fn: Owned, env: Record<string, string>, current?: Pick<FunctionSpec, 'env' | 'envEncrypted'>) {
  const key = await keyToSeal(keys, fn.ownerId);
  const before = current?.envEncrypted ? current.env : {};
  const sealed: [string, string][] = [];
  for (const [variable, value] of Object.entries(env)) {
    const binding = { userId: fn.ownerId, purpose: envPurpose(fn.functionId, variable) };
    const kept = Object.hasOwn(before, variable) ? before[variable] : undefined;
    const same = kept !== undefined && (await decryptValue(kept, key, binding)) === value;
    sealed.push([variable, same ? kept : await encryptValue(value, key, binding)]);
  }
  return Object.fromEntries(sealed);
}

/** The function's environment as its containers get it. */
export async function openEnv(keys: KeyStore, definition: FunctionDefinition, key?: CryptoKey): Promise<Record<string, string>> {
  if (!definition.envEncrypted) return definition.env;
  const dataKey = key ?? (await keyToOpen(keys, definition.ownerId));
  const opened: [string, string][] = [];
  for (const [variable, value] of Object.entries(definition.env)) {
    opened.push([variable, await decryptValue(value, dataKey, { userId: definition.ownerId, purpose: envPurpose(definition.functionId, variable) })]);
  }
  return Object.fromEntries(opened);
}

/** Definitions with their environment opened, as their owner reads them; the data key is read once per owner. */
export async function withOpenEnv(keys: KeyStore, definitions: FunctionDefinition[]): Promise<FunctionDefinition[]> {
  const dataKeys = new Map<string, CryptoKey>();
  const opened: FunctionDefinition[] = [];
  for (const definition of definitions) {
    if (!definition.envEncrypted) {
      opened.push(definition);
      continue;
    }
    let key = dataKeys.get(definition.ownerId);
    if (key === undefined) dataKeys.set(definition.ownerId, (key = await keyToOpen(keys, definition.ownerId)));
    opened.push({ ...definition, env: await openEnv(keys, definition, key), envEncrypted: false });
  }
  return opened;
}

/** The warm target of `definition` with its environment opened (workers start containers with it); null when it asks for none. */
export async function warmTargetFor(keys: KeyStore, definition: FunctionDefinition) {
  return definition.minWarm ? warmTargetOf({ ...definition, env: await openEnv(keys, definition) }) : null;
}

/** What one call of `definition` runs with: its environment, and its secrets' current values. */
export type CallEnv = { env: Record<string, string>; secretEnv?: Record<string, string> };

export async function callEnvOf(deps: Pick<CommandDeps, 'keys' | 'store'>, definition: FunctionDefinition): Promise<CallEnv> {
  const references = Object.entries(definition.secrets ?? {});
  if (references.length === 0) return { env: await openEnv(deps.keys, definition) };
  const { ownerId } = definition;
  const secrets = await secretsOf(deps, ownerId);
  const missing = references.find(([, name]) => !Object.hasOwn(secrets, name));
  if (missing) {
    const [variable, name] = missing;
    throw new DomainError(
      'SecretMissing',
      `the function's variable ${variable} takes the secret ${name}, which no longer exists: set it again (PUT /v1/secrets/${name}) or update the function`,
    );
  }
  // One read of the data key for the env and the secrets alike.
  const key = await keyToOpen(deps.keys, ownerId);
  const env = await openEnv(deps.keys, definition, key);
  const secretEnv: [string, string][] = [];
  for (const [variable, name] of references) {
    secretEnv.push([variable, await decryptValue(secrets[name]!.value, key, { userId: ownerId, purpose: secretPurpose(name) })]);
  }
  const opened = Object.fromEntries(secretEnv);
  const bytes = callSecretsBytes(opened);
  if (bytes > MAX_CALL_SECRETS_BYTES) {
    throw new DomainError('SecretsTooLarge', `the function's secrets come to ${bytes} bytes, more than the ${MAX_CALL_SECRETS_BYTES} a call carries: take fewer or smaller ones`);
  }
  return { env, secretEnv: opened };
}

/** Refuses a version that takes a secret its owner does not have (yet). */
export async function checkSecretsExist(deps: Pick<CommandDeps, 'store'>, ownerId: string, references: Record<string, string> | undefined) {
  const names = Object.values(references ?? {});
  if (names.length === 0) return;
  const secrets = await secretsOf(deps, ownerId);
  const unknown = [...new Set(names.filter((name) => !Object.hasOwn(secrets, name)))];
  if (unknown.length > 0) {
    throw new DomainError('UnknownSecret', `you have no secret named ${unknown.join(', ')}: set it first (PUT /v1/secrets/{name})`, undefined, {
      unknownSecrets: unknown,
    });
  }
}

/** The user's secrets as stored (values encrypted), read from their stream: what is current, not what a read model has seen. */
export async function secretsOf(deps: Pick<CommandDeps, 'store'>, userId: string): Promise<SecretsState['secrets']> {
  const { state } = await readState(deps.store, secretsDecider, secretsStream(userId));
  return state.secrets;
}
