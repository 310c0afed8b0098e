import { createKeyStore } from '../../auth/data-key-store.ts';
import type { MasterKeyring } from '../../auth/envelope.ts';
import type { KeyStore, WrappedDataKey, WrappedKeyStorage } from '../../ports/key-store.ts';
import { type SqliteDatabase, inWriteTransaction } from '../../ports/sqlite.ts';

const SCHEMA_VERSION = 1;

// A destroyed user keeps a row in destroyed_keys (their id and when), none in data_keys: that
// row is what stops getOrCreate from giving them a new key.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS data_keys (
    user_id       TEXT NOT NULL PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped_key   TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS destroyed_keys (
    user_id      TEXT NOT NULL PRIMARY KEY,
    destroyed_at TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
`;

export type SqliteKeyStorageOptions = { now?: () => Date };

/**
 * Wrapped keys in a SQLite file of their own (keys.sqlite), apart from the events and the read
 * models: it is the one file whose loss (or deletion of a row) shreds data, so it is backed up,
 * kept and destroyed by its own rules. Several processes may share the file.
 */
export function createSqliteKeyStorage(db: SqliteDatabase, options: SqliteKeyStorageOptions = {}): WrappedKeyStorage {
  const now = options.now ?? (() => new Date());
  configure(db);
  migrate(db);
  // One statement, one snapshot: a key destroyed between two reads cannot look never created.
  const read = db.prepare(`
    SELECT master_key_id, wrapped_key FROM data_keys WHERE user_id = ?
    UNION ALL SELECT NULL, NULL FROM destroyed_keys WHERE user_id = ?`);
  const isDestroyed = db.prepare('SELECT 1 FROM destroyed_keys WHERE user_id = ?');
  const insert = db.prepare('INSERT INTO data_keys (user_id, master_key_id, wrapped_key) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING');
  const replace = db.prepare(
    'UPDATE data_keys SET master_key_id = ?, wrapped_key = ? WHERE user_id = ? AND master_key_id = ? AND wrapped_key = ?',
  );
  const others = db.prepare('SELECT user_id, master_key_id, wrapped_key FROM data_keys WHERE master_key_id <> ?');
  const wrappedOf = db.prepare('SELECT wrapped_key FROM data_keys WHERE user_id = ?');
  const overwrite = db.prepare('UPDATE data_keys SET wrapped_key = ? WHERE user_id = ?');
  const remove = db.prepare('DELETE FROM data_keys WHERE user_id = ?');
  const remember = db.prepare('INSERT INTO destroyed_keys (user_id, destroyed_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING');

  const readNow = (userId: string): WrappedDataKey | 'destroyed' | undefined => {
    const row = read.get(userId, userId);
    if (row === undefined) return undefined;
    return row['wrapped_key'] === null ? 'destroyed' : { masterKeyId: String(row['master_key_id']), wrapped: String(row['wrapped_key']) };
  };

  return {
    read: async (userId) => readNow(userId),
    insertIfAbsent: async (userId, key) =>
      inWriteTransaction(db, () => {
        if (isDestroyed.get(userId) !== undefined) return 'destroyed';
        insert.run(userId, key.masterKeyId, key.wrapped);
        return readNow(userId)!;
      }),
    replace: async (userId, expected, next) =>
      replace.run(next.masterKeyId, next.wrapped, userId, expected.masterKeyId, expected.wrapped).changes === 1,
    wrappedUnderOthers: async (masterKeyId) =>
      others.all(masterKeyId).map((row) => ({
        userId: String(row['user_id']),
        key: { masterKeyId: String(row['master_key_id']), wrapped: String(row['wrapped_key']) },
      })),
    destroy: async (userId) =>
      inWriteTransaction(db, () => {
        const row = wrappedOf.get(userId);
        if (row !== undefined) {
          // SQLite rewrites a value of unchanged size in place, so these zeros land on the key's
          // own bytes, secure_delete or not; the DELETE then zeroes the whole row (secure_delete).
          overwrite.run('0'.repeat(String(row['wrapped_key']).length), userId);
          remove.run(userId);
        }
        remember.run(userId, now().toISOString());
      }),
    async close() {
      db.close();
    },
  };
}

/** The KeyStore over `db` (keys.sqlite), its keys wrapped under `keyring`. */
export function createSqliteKeyStore(db: SqliteDatabase, keyring: MasterKeyring, options: SqliteKeyStorageOptions = {}): KeyStore {
  return createKeyStore(createSqliteKeyStorage(db, options), keyring);
}

function configure(db: SqliteDatabase): void {
  db.exec('PRAGMA busy_timeout = 5000');
  // A rollback journal, not WAL: the journal holds the old page (and a destroyed key in it)
  // only until the commit and is removed then, whereas a WAL keeps page images until a
  // checkpoint, and reuses its file without zeroing it.
  db.exec('PRAGMA journal_mode = DELETE');
  db.exec('PRAGMA synchronous = FULL');
  // Freed space (a deleted row, a replaced value, a page no longer used) is zeroed, not left.
  db.exec('PRAGMA secure_delete = ON');
  if (Number(db.prepare('PRAGMA secure_delete').get()?.['secure_delete']) !== 1) {
    throw new Error('this SQLite cannot zero deleted data (PRAGMA secure_delete): destroyed keys would stay in keys.sqlite');
  }
}

function migrate(db: SqliteDatabase): void {
  inWriteTransaction(db, () => {
    const version = Number(db.prepare('PRAGMA user_version').get()?.['user_version'] ?? 0);
    if (version > SCHEMA_VERSION) throw new Error(`key store file has schema version ${version}; this build knows up to ${SCHEMA_VERSION}`);
    if (version === SCHEMA_VERSION) return;
    db.exec(SCHEMA);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
}
