/**
 * Wrapped keys in the JetStream key-value bucket FAAS_KEYS, for apis on several hosts (the
 * EventStoreDB + NATS deployments), which share no data dir and so no keys.sqlite.
 *
 * - One entry per user, its key the base64url of the user id (a KV key allows only `[-/_=.\w]`),
 *   its value `{"masterKeyId","wrapped"}` or the tombstone `{"destroyed":true}`.
 * - insertIfAbsent is KV `create` (the server's expected-last-subject-sequence check: of two
 *   callers one stores), replace is `update` at the revision read, so both fail once anything
 *   else, a tombstone above all, became the user's latest revision. A tombstone is a value, not a
 *   KV delete: nats.js's `create` writes over a delete marker.
 * - A superseded revision (the key a tombstone or a rotation replaced) is deleted with JetStream's
 *   secure erase, which overwrites the message's bytes in its block file; a purge, or the bucket's
 *   history limit, would only mark it deleted and leave the bytes there until the block is
 *   compacted. The latest revision of a user is never erased: that is what keeps `create` from
 *   succeeding again (it checks that the subject has no message at all).
 * - Reads go to the stream leader (no direct get): a replica's direct get may answer from before
 *   a write, and a destroyed key must not be read back.
 *
 * What secure erase cannot reach: on a clustered stream (replicas > 1) each server also keeps
 * the write in the stream's Raft log (`$SYS/_js_/S-R3F-…/msgs/`) until the log is compacted after
 * the group's next snapshot, which the server takes on its own timer (the bytes were gone 2 to 4
 * minutes after destroy on a three-node nats-server 2.9.10); and no server erases the copies
 * that backups of its store dir hold.
 */
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, JetStreamError, type JetStreamManager } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import { ClosedConnectionError, ConnectionError, DrainingConnectionError, type NatsConnection, NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { createKeyStore } from '../../auth/data-key-store.ts';
import type { MasterKeyring } from '../../auth/envelope.ts';
import { fromBase64Url, toBase64Url } from '../../lib/base64url.ts';
import { type KeyStore, KeyStoreUnavailableError, type WrappedDataKey, type WrappedKeyStorage } from '../../ports/key-store.ts';

export const keysBucket = 'FAAS_KEYS';

/**
 * Revisions kept per user before the server drops the oldest (without erasing it). Each
 * superseded revision is erased as soon as the write that superseded it is acknowledged, so
 * only a few exist at once; 64, the most a bucket keeps, is margin for racing writers and for
 * a process that died between a write and its erase (the next replace or destroy of that user
 * erases what it left).
 */
const history = 64;

const tombstone = { destroyed: true } as const;

export type NatsKvKeyStorageOptions = {
  /** Bucket replicas: 1 on a single server, 3 on a JetStream cluster (FAASBOX_NATS_REPLICAS). */
  replicas: number;
};

/**
 * The storage over `nc`, once the bucket is there (made by the first process, opened by the
 * others). From then on the storage owns the connection and closes it on close().
 */
export async function openNatsKvKeyStorage(nc: NatsConnection, { replicas }: NatsKvKeyStorageOptions): Promise<WrappedKeyStorage> {
  const kv = await new Kvm(jetstream(nc)).create(keysBucket, { replicas, history, allow_direct: false });
  const kept = (await kv.status()).history;
  // A bucket made by hand, or by something else, with a smaller history would drop (not erase) a
  // replaced key the moment its successor is written.
  if (kept < 2) {
    throw new Error(`the NATS bucket ${keysBucket} keeps ${kept} revision per key: the key store needs at least 2 (it makes it with ${history})`);
  }
  return whileReachable(createNatsKvKeyStorage(nc, kv, await jetstreamManager(nc)));
}

/** The KeyStore over the bucket on `nc` (which it then owns), its keys wrapped under `keyring`. */
export async function openNatsKvKeyStore(nc: NatsConnection, keyring: MasterKeyring, options: NatsKvKeyStorageOptions): Promise<KeyStore> {
  return createKeyStore(await openNatsKvKeyStorage(nc, options), keyring);
}

function createNatsKvKeyStorage(nc: NatsConnection, kv: KV, jsm: JetStreamManager): WrappedKeyStorage {
  const stream = `KV_${keysBucket}`;

  const latest = async (userId: string): Promise<{ revision: number; value: WrappedDataKey | 'destroyed' } | undefined> => {
    const entry = await kv.get(keyOf(userId));
    // A KV delete or purge is no tombstone: only an operator's hand makes one (see above).
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { revision: entry.revision, value: decode(entry) };
  };

  /** Erases every revision of the user before `revision`: their bytes are overwritten in the store's files. */
  const eraseBefore = async (userId: string, revision: number) => {
    const superseded: number[] = [];
    for await (const entry of await kv.history({ key: keyOf(userId) })) {
      if (entry.revision < revision) superseded.push(entry.revision);
    }
    for (const seq of superseded) {
      try {
        await jsm.streams.deleteMessage(stream, seq, true);
      } catch (error) {
        // Another replace or destroy of this user erased it first.
        if (!isApiError(error, JetStreamApiCodes.NoMessageFound)) throw error;
      }
    }
  };

  return {
    read: async (userId) => (await latest(userId))?.value,

    async insertIfAbsent(userId, key) {
      try {
        await kv.create(keyOf(userId), encode(key));
        return key;
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
      // Someone stored first; what is there stays there (latest revisions are never erased).
      const stored = await latest(userId);
      if (stored === undefined) throw new Error(`the key store entry of user ${userId} is a KV delete marker, which this store never writes`);
      return stored.value;
    },

    async replace(userId, expected, next) {
      const stored = await latest(userId);
      if (stored === undefined || stored.value === 'destroyed' || !sameKey(stored.value, expected)) return false;
      let revision: number;
      try {
        revision = await kv.update(keyOf(userId), encode(next), stored.revision);
      } catch (error) {
        // Destroyed or replaced since the read.
        if (isWrongLastSequence(error)) return false;
        throw error;
      }
      // The old wrapping is a key too, to whoever holds the previous master key.
      await eraseBefore(userId, revision);
      return true;
    },

    async wrappedUnderOthers(masterKeyId) {
      const userIds: string[] = [];
      for await (const key of await kv.keys()) userIds.push(userIdOf(key));
      const found: { userId: string; key: WrappedDataKey }[] = [];
      for (const userId of userIds) {
        const stored = await latest(userId);
        const key = stored?.value;
        if (key !== undefined && key !== 'destroyed' && key.masterKeyId !== masterKeyId) found.push({ userId, key });
      }
      return found;
    },

    async destroy(userId) {
      const stored = await latest(userId);
      // The tombstone goes first: once it is the latest revision neither create nor update can
      // land, so erasing what is below it races with nothing that could bring a key back.
      const revision = stored?.value === 'destroyed' ? stored.revision : await kv.put(keyOf(userId), encode(tombstone));
      await eraseBefore(userId, revision);
    },

    async close() {
      await nc.close();
    },
  };
}

/**
 * The storage, its calls failing with KeyStoreUnavailableError when the server cannot answer
 * (the connection down, a timeout, a stream without a leader), which callers answer with 503
 * rather than take for a fault of theirs.
 */
function whileReachable(storage: WrappedKeyStorage): WrappedKeyStorage {
  const guard =
    <Args extends unknown[], Result>(call: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      try {
        return await call(...args);
      } catch (error) {
        if (!unreachable(error)) throw error;
        throw new KeyStoreUnavailableError(`the key store (NATS bucket ${keysBucket}) cannot answer now: ${(error as Error).message}`);
      }
    };
  return {
    read: guard(storage.read),
    insertIfAbsent: guard(storage.insertIfAbsent),
    replace: guard(storage.replace),
    wrappedUnderOthers: guard(storage.wrappedUnderOthers),
    destroy: guard(storage.destroy),
    close: storage.close,
  };
}

const UNREACHABLE = [ConnectionError, ClosedConnectionError, DrainingConnectionError, RequestError, TimeoutError, NoRespondersError, JetStreamError, JetStreamApiError];
const unreachable = (error: unknown) => UNREACHABLE.some((kind) => error instanceof kind);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const encode = (value: WrappedDataKey | typeof tombstone): Uint8Array =>
  encoder.encode(JSON.stringify('destroyed' in value ? value : { masterKeyId: value.masterKeyId, wrapped: value.wrapped }));

function decode(entry: KvEntry): WrappedDataKey | 'destroyed' {
  const value: unknown = JSON.parse(decoder.decode(entry.value));
  if (typeof value === 'object' && value !== null) {
    if ('destroyed' in value && value.destroyed === true) return 'destroyed';
    if ('masterKeyId' in value && 'wrapped' in value && typeof value.masterKeyId === 'string' && typeof value.wrapped === 'string') {
      return { masterKeyId: value.masterKeyId, wrapped: value.wrapped };
    }
  }
  throw new Error(`the key store entry ${entry.key} (revision ${entry.revision}) is not a wrapped key nor a tombstone`);
}

function keyOf(userId: string): string {
  if (userId === '') throw new RangeError('the user id is empty');
  return toBase64Url(encoder.encode(userId));
}

function userIdOf(key: string): string {
  const bytes = fromBase64Url(key);
  if (bytes === null) throw new Error(`the NATS bucket ${keysBucket} holds a key this store did not write: ${key}`);
  return decoder.decode(bytes);
}

const sameKey = (a: WrappedDataKey, b: WrappedDataKey) => a.masterKeyId === b.masterKeyId && a.wrapped === b.wrapped;

const isApiError = (error: unknown, code: number): boolean => error instanceof JetStreamApiError && error.code === code;

/** Either code: the subject's last sequence was not the one expected (nats.js's own KV `create` takes both alike). */
const isWrongLastSequence = (error: unknown): boolean =>
  isApiError(error, JetStreamApiCodes.StreamWrongLastSequence) || isApiError(error, JetStreamApiCodes.StreamWrongLastSequenceUnknown);
