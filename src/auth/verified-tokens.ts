import type { TokenClaims } from './tokens.ts';

/**
 * Tokens whose signature has been checked, by their exact text, with their claims. A client
 * sends the same token with every request; checking its HMAC each time (WebCrypto, a trip to
 * the thread pool) was the largest part of an authenticated GET (measured by `npm run bench`, group api). A forged or altered
 * token is a different string, so it is never found here and is checked in full. An entry is
 * used only before its `exp`; revocation is not decided here (the principal is resolved from
 * the read models on every request).
 */
export type VerifiedTokens = {
  /** The claims of `token` if it was verified and has not expired by `nowSeconds`. */
  get(token: string, nowSeconds: number): TokenClaims | undefined;
  remember(token: string, claims: TokenClaims): void;
};

export function createVerifiedTokens(capacity: number): VerifiedTokens {
  // A Map iterates in insertion order: the first key is the oldest entry.
  const entries = new Map<string, TokenClaims>();
  return {
    get(token, nowSeconds) {
      const claims = entries.get(token);
      if (claims === undefined) return undefined;
      if (claims.exp > nowSeconds) return claims;
      entries.delete(token);
      return undefined;
    },
    remember(token, claims) {
      if (entries.has(token)) return;
      if (entries.size >= capacity) entries.delete(entries.keys().next().value!);
      entries.set(token, claims);
    },
  };
}
