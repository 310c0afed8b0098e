import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decryptValue,
  encryptValue,
  importMasterKey,
  importMasterKeyring,
  type MasterKeyring,
  newDataKey,
  rewrapDataKey,
  UndecryptableError,
  UnknownMasterKeyError,
  unwrapDataKey,
} from '../src/auth/envelope.ts';
import { fromBase64Url, toBase64Url } from '../src/lib/base64url.ts';
import type { CryptoKey } from '../src/lib/crypto-key.ts';
import { masterKeyIdOf, openValue, rawDataKey } from './support/envelope-format.ts';

const envelope = suite('envelope encryption');

const randomKey = () => crypto.getRandomValues(new Uint8Array(32));
const ring = (current: Uint8Array<ArrayBuffer>, ...previous: Uint8Array<ArrayBuffer>[]): Promise<MasterKeyring> =>
  importMasterKeyring(current, previous);
const ada = { userId: 'user-ada', purpose: 'secret:DB_PASSWORD' };

async function failsWith(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, type);
    return error as Error;
  }
  throw new assert.Assertion({ message: `expected ${type.name}, it succeeded`, operator: 'failsWith', expects: type, actual: undefined });
}

async function dataKey(): Promise<CryptoKey> {
  return (await newDataKey(ada.userId, (await ring(randomKey())).current)).dataKey;
}

/** `encrypted` with the byte at `index` (of its decoded bytes) flipped. */
function flipped(encrypted: string, index: number): string {
  const bytes = fromBase64Url(encrypted.slice('fbx1.'.length))!;
  bytes[index < 0 ? bytes.length + index : index]! ^= 0x01;
  return `fbx1.${toBase64Url(bytes)}`;
}

envelope('a value round-trips, in a compact text form: version prefix, then base64url of IV, ciphertext and tag', async () => {
  const key = await dataKey();
  for (const plaintext of ['hunter2', '', 'pässwörd ✓ 🔑', 'x'.repeat(100_000)]) {
    const encrypted = await encryptValue(plaintext, key, ada);
    assert.match(encrypted, /^fbx1\.[A-Za-z0-9_-]+$/);
    const bytes = new TextEncoder().encode(plaintext).length;
    assert.is(fromBase64Url(encrypted.slice(5))!.length, 12 + bytes + 16, 'IV, ciphertext as long as the plaintext, tag');
    assert.is(await decryptValue(encrypted, key, ada), plaintext);
  }
});

envelope('the IV is random: the same plaintext twice gives two ciphertexts with two IVs', async () => {
  const key = await dataKey();
  const encryptions = await Promise.all(Array.from({ length: 32 }, () => encryptValue('same', key, ada)));
  assert.is(new Set(encryptions).size, 32);
  assert.is(new Set(encryptions.map((text) => text.slice(5, 5 + 16))).size, 32, 'IVs (their first 12 bytes)');
  for (const encrypted of encryptions) assert.is(await decryptValue(encrypted, key, ada), 'same');
});

envelope('a value bound to one owner and purpose does not decrypt as another owner’s or another field’s', async () => {
  const key = await dataKey();
  const encrypted = await encryptValue('hunter2', key, ada);
  for (const other of [
    { userId: 'user-bob', purpose: ada.purpose },
    { userId: ada.userId, purpose: 'secret:API_TOKEN' },
    // Parts are not concatenated: moving a character across the boundary changes the binding.
    { userId: 'user-ada"', purpose: 'secret:DB_PASSWORD' },
    { userId: 'user-adas', purpose: 'ecret:DB_PASSWORD' },
  ]) {
    const error = await failsWith(decryptValue(encrypted, key, other), UndecryptableError);
    assert.not.match(error.message, /hunter2/);
  }
});

envelope('a tampered, truncated or malformed value fails with UndecryptableError, never returns garbage', async () => {
  const key = await dataKey();
  const encrypted = await encryptValue('hunter2', key, ada);
  for (const index of [0, 11, 12, 18, -16, -1]) await failsWith(decryptValue(flipped(encrypted, index), key, ada), UndecryptableError);
  for (const bad of [
    encrypted.slice(0, -4),
    encrypted.slice(0, 5 + 37),
    'fbx1.',
    `fbx2.${encrypted.slice(5)}`,
    encrypted.slice(5),
    `fbx1.${encrypted.slice(5)}=`,
    `fbx1.${encrypted.slice(5).replace(/-/g, '+')}/`,
    'hunter2',
  ]) {
    await failsWith(decryptValue(bad, key, ada), UndecryptableError);
  }
});

envelope('a value does not decrypt under another data key: UndecryptableError', async () => {
  const encrypted = await encryptValue('hunter2', await dataKey(), ada);
  await failsWith(decryptValue(encrypted, await dataKey(), ada), UndecryptableError);
});

envelope('a data key wraps and unwraps under its master key, only for its own user; it cannot be exported', async () => {
  const keyring = await ring(randomKey());
  const { dataKey: key, wrapped } = await newDataKey(ada.userId, keyring.current);
  assert.is(wrapped.masterKeyId, keyring.current.id);
  assert.match(wrapped.wrapped, /^fbxk1\.[A-Za-z0-9_-]{80}$/);
  const unwrapped = await unwrapDataKey(wrapped, ada.userId, keyring);
  assert.is(await decryptValue(await encryptValue('hunter2', key, ada), unwrapped, ada), 'hunter2');
  assert.is(await decryptValue(await encryptValue('hunter2', unwrapped, ada), key, ada), 'hunter2');
  // Bound to its user: copied into another user's row it does not unwrap.
  await failsWith(unwrapDataKey(wrapped, 'user-bob', keyring), UndecryptableError);
  const [head, body] = [wrapped.wrapped.slice(0, 10), wrapped.wrapped.slice(10)];
  await failsWith(unwrapDataKey({ ...wrapped, wrapped: `${head}${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}` }, ada.userId, keyring), UndecryptableError);
  for (const dataKeyOut of [key, unwrapped]) {
    assert.is(dataKeyOut.extractable, false);
    await crypto.subtle.exportKey('raw', dataKeyOut).then(
      () => assert.unreachable('a data key was exported'),
      () => {},
    );
  }
});

envelope('a key wrapped under a previous master key unwraps; under an unknown one it names that key’s id', async () => {
  const [old, current] = [randomKey(), randomKey()];
  const before = await ring(old);
  const { dataKey: key, wrapped } = await newDataKey(ada.userId, before.current);
  const encrypted = await encryptValue('hunter2', key, ada);

  const rotating = await ring(current, old);
  assert.is(await decryptValue(encrypted, await unwrapDataKey(wrapped, ada.userId, rotating), ada), 'hunter2');

  const error = await failsWith(unwrapDataKey(wrapped, ada.userId, await ring(current)), UnknownMasterKeyError);
  assert.equal((error as UnknownMasterKeyError).masterKeyIds, [before.current.id]);
  assert.match(error.message, /FAASBOX_MASTER_KEY_PREVIOUS/);
});

envelope('re-wrapping moves a key under the current master key: the same data key, which the old master key alone no longer unwraps', async () => {
  const [old, current] = [randomKey(), randomKey()];
  const oldRing = await ring(old);
  const { dataKey: key, wrapped } = await newDataKey(ada.userId, oldRing.current);
  const encrypted = await encryptValue('hunter2', key, ada);
  const rotating = await ring(current, old);
  const rewrapped = await rewrapDataKey(wrapped, ada.userId, rotating);
  assert.is(rewrapped.masterKeyId, rotating.current.id);
  assert.is.not(rewrapped.wrapped, wrapped.wrapped);
  assert.is(await decryptValue(encrypted, await unwrapDataKey(rewrapped, ada.userId, await ring(current)), ada), 'hunter2');
  await failsWith(unwrapDataKey(rewrapped, ada.userId, oldRing), UnknownMasterKeyError);
  // Even told it is the old key's, the new wrapping does not open under it.
  await failsWith(unwrapDataKey({ ...rewrapped, masterKeyId: oldRing.current.id }, ada.userId, oldRing), UndecryptableError);
});

envelope('a master key’s id: 16 hex digits, the same for the same key, derived so it tells nothing of the key', async () => {
  const bytes = randomKey();
  const [a, b, other] = await Promise.all([importMasterKey(bytes), importMasterKey(bytes.slice()), importMasterKey(randomKey())]);
  assert.match(a.id, /^[0-9a-f]{16}$/);
  assert.is(a.id, b.id);
  assert.is.not(a.id, other.id);
  assert.is(a.id, await masterKeyIdOf(bytes));
  const sha = Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('hex');
  assert.not.ok(sha.includes(a.id) || Buffer.from(bytes).toString('hex').includes(a.id));
  assert.is(a.wrappingKey.extractable, false);
  await importMasterKey(new Uint8Array(31)).then(
    () => assert.unreachable('a 31-byte master key was accepted'),
    (error: unknown) => assert.instance(error, RangeError),
  );
});

envelope('a keyring counts a repeated previous key, or the current one given again, once', async () => {
  const [current, old] = [randomKey(), randomKey()];
  const keyring = await ring(current, old, old.slice(), current);
  assert.equal(
    keyring.previous.map((key) => key.id),
    [(await importMasterKey(old)).id],
  );
});

envelope('the formats are the documented ones: a hand-written WebCrypto reader opens what the module sealed', async () => {
  const master = randomKey();
  const keyring = await ring(master);
  const { dataKey: key, wrapped } = await newDataKey(ada.userId, keyring.current);
  const raw = await rawDataKey(master, ada.userId, wrapped.wrapped);
  assert.is(raw.length, 32);
  assert.is(await openValue(raw, ada.userId, ada.purpose, await encryptValue('hunter2', key, ada)), 'hunter2');
});

envelope('what was stored stays readable: a fixed master key, wrapped key and value (known answers)', async () => {
  const master = Uint8Array.from({ length: 32 }, (_, i) => i);
  const keyring = await ring(master);
  assert.is(keyring.current.id, '47c3382f49225bec');
  const wrapped = {
    masterKeyId: '47c3382f49225bec',
    wrapped: 'fbxk1.X-TyZUAjscUZTsPur_cQ7iNaYc96PCpwQW8gh3GDWmDTGrnirSYBMsg0lfcMeZ_u5NztdzkLoeZb4i6k',
  };
  const key = await unwrapDataKey(wrapped, 'user-1', keyring);
  const encrypted = 'fbx1.kYR_ph9bwcOtygm1tvpv-HcOTyI-dViQOEVTbNS25kRr7nxyZBGH';
  assert.is(await decryptValue(encrypted, key, { userId: 'user-1', purpose: 'secret:DB_PASSWORD' }), 'hunter2 ✓');
});

envelope.run();
