import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TokenClaims } from '../src/auth/tokens.ts';
import { createVerifiedTokens } from '../src/auth/verified-tokens.ts';

const tokens = suite('verified tokens');

const claims = (jti: string, exp: number): TokenClaims => ({ sub: 'u1', email: 'a@x.io', jti, iat: 100, exp });

tokens('a remembered token is known by its exact text until its exp', () => {
  const verified = createVerifiedTokens(10);
  verified.remember('aaa.bbb.ccc', claims('t1', 200));
  assert.equal(verified.get('aaa.bbb.ccc', 150), claims('t1', 200));
  assert.is(verified.get('aaa.bbb.ccd', 150), undefined, 'one character changed is another token');
  assert.is(verified.get('aaa.bbb.ccc', 200), undefined, 'expired at exp, as hono/jwt decides');
  assert.is(verified.get('aaa.bbb.ccc', 150), undefined, 'an expired entry is dropped, not revived');
});

tokens('past its capacity it forgets the oldest entries, not the newest', () => {
  const verified = createVerifiedTokens(3);
  for (const n of [1, 2, 3, 4]) verified.remember(`token-${n}`, claims(`t${n}`, 1_000));
  assert.is(verified.get('token-1', 0), undefined);
  for (const n of [2, 3, 4]) assert.is(verified.get(`token-${n}`, 0)?.jti, `t${n}`);
});

tokens.run();
