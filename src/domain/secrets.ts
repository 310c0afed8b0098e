import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

/**
 * A user's secrets, one stream per user (`secrets-<userId>`). A value is stored only encrypted
 * under the user's data key (src/auth/envelope.ts, purpose `secretPurpose(name)`): the stream,
 * its backups and every rebuild hold ciphertext, which the destruction of that key at the
 * user's deletion turns into noise.
 */
export type StoredSecret = { name: string; value: string; createdAt: string; updatedAt: string };

export type SecretEvent =
  /** `value`: the envelope text (`fbx1.…`), never the plaintext. */
  | DomainEvent<'SecretCreated', SecretSetData>
  /** A new value for a secret that exists: calls from now on get it. */
  | DomainEvent<'SecretChanged', SecretSetData>
  | DomainEvent<'SecretDeleted', { userId: string; name: string; deletedAt: string }>;

type SecretSetData = { userId: string; name: string; value: string; setAt: string };

export type SecretsState = { secrets: Record<string, StoredSecret> };

export type SecretCommand =
  | { type: 'SetSecret'; userId: string; name: string; value: string; now: Date }
  | { type: 'DeleteSecret'; userId: string; name: string; now: Date };

/** What a secret's value is bound to when encrypted: a value copied under another name does not decrypt. */
export const secretPurpose = (name: string) => `secret:${name}`;

/**
 * The most a call's secrets may weigh as the agent's go carries them (8 bytes a variable, then the
 * UTF-8 of its name and value): the agent refuses more (MAX_GO_ENV_BYTES, worker/agent/protocol.ts).
 */
export const MAX_CALL_SECRETS_BYTES = 65_536;

export const callSecretsBytes = (secretEnv: Record<string, string>) => {
  const utf8 = new TextEncoder();
  return Object.entries(secretEnv).reduce((sum, [name, value]) => sum + 8 + utf8.encode(name).length + utf8.encode(value).length, 0);
};

/** Letters, digits, `.`, `_` and `-`, starting with a letter or digit: safe in a URL path and a log line. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const secretsDecider: Decider<SecretCommand, SecretEvent, SecretsState> = {
  initialState: () => ({ secrets: {} }),

  evolve: (state, event) => {
    const secrets = { ...state.secrets };
    switch (event.type) {
      case 'SecretCreated':
      case 'SecretChanged': {
        const { name, value, setAt } = event.data;
        secrets[name] = { name, value, createdAt: secrets[name]?.createdAt ?? setAt, updatedAt: setAt };
        break;
      }
      case 'SecretDeleted':
        delete secrets[event.data.name];
        break;
    }
    return { secrets };
  },

  decide: (command, state) => {
    switch (command.type) {
      case 'SetSecret': {
        // Always an event: a value sent again cannot be told equal without decrypting, and
        // setting a secret is rare enough that a repeat costs nothing worth saving.
        const data = { userId: command.userId, name: command.name, value: command.value, setAt: command.now.toISOString() };
        return [{ type: Object.hasOwn(state.secrets, command.name) ? 'SecretChanged' : 'SecretCreated', data }];
      }
      case 'DeleteSecret':
        if (!Object.hasOwn(state.secrets, command.name)) throw new DomainError('SecretNotFound', `you have no secret named ${command.name}`);
        return [{ type: 'SecretDeleted', data: { userId: command.userId, name: command.name, deletedAt: command.now.toISOString() } }];
    }
  },
};
