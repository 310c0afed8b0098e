/**
 * WebCrypto's CryptoKey, named through the global `crypto`: Node's types declare no global
 * CryptoKey (only node:crypto's `webcrypto.CryptoKey`, which the core may not import), while the
 * web's types, which the core is checked with, do. This one name is the same type in both.
 */
export type CryptoKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
