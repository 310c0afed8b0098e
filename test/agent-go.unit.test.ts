/**
 * The go the worker writes to the agent (worker/agent/protocol.ts), byte for byte: without
 * variables exactly as before (versions 1 and 2), with them versions 3 and 4 and their env part;
 * and the rules the agent refuses variables by, which the worker checks first, in words that
 * never name a value.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GO_HEADER, GO_HEADER_REUSE, MAX_GO_ENV_BYTES, goEnvProblem, oneShotGo, reuseGo } from '../worker/agent/protocol.ts';
import { MAX_CALL_SECRETS_BYTES, callSecretsBytes } from '../src/domain/secrets.ts';

const test = suite('agent go');

const bytes = (...parts: (string | number[])[]) => [...Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))))];
const FBXGO = [0x46, 0x42, 0x58, 0x47, 0x4f];
const SECRET = 'hunter2-do-not-echo';

test('without variables the gos are versions 1 and 2, as before: none, an empty object, undefined', () => {
  for (const env of [undefined, {}]) {
    assert.equal([...oneShotGo(env)], [...GO_HEADER]);
    assert.equal([...reuseGo(0x01020304, env)], [...FBXGO, 2, 0, 0, 1, 2, 3, 4]);
  }
  assert.equal([...GO_HEADER], [...FBXGO, 1, 0, 0]);
  assert.equal([...reuseGo(7).subarray(0, 8)], [...GO_HEADER_REUSE]);
});

test('one-shot with variables: version 3, the u32 length of the block, then per variable u32 name length, name, u32 value length, value', () => {
  assert.equal(
    [...oneShotGo({ A: 'xy', EMPTY: '' })],
    bytes([...FBXGO, 3, 0, 0], [0, 0, 0, 24], [0, 0, 0, 1], 'A', [0, 0, 0, 2], 'xy', [0, 0, 0, 5], 'EMPTY', [0, 0, 0, 0]),
  );
});

test('reuse with variables: version 4, the env part, then the u32 stdin length', () => {
  assert.equal([...reuseGo(258, { K: 'v' })], bytes([...FBXGO, 4, 0, 0], [0, 0, 0, 10], [0, 0, 0, 1], 'K', [0, 0, 0, 1], 'v', [0, 0, 1, 2]));
  assert.throws(() => reuseGo(-1, { K: 'v' }));
  assert.throws(() => reuseGo(2 ** 32, { K: 'v' }));
});

test('lengths count UTF-8 bytes; "=" in a value is a value like any other', () => {
  const go = Buffer.from(oneShotGo({ 'É': 'a=b=ü' }));
  assert.is(go.readUInt32BE(8), 4 + 2 + 4 + 6);
  assert.is(go.readUInt32BE(12), 2);
  assert.is(go.subarray(16, 18).toString('utf8'), 'É');
  assert.is(go.readUInt32BE(18), 6);
  assert.is(go.subarray(22).toString('utf8'), 'a=b=ü');
});

test('what the agent refuses is refused first, and the words name the variable, never its value', () => {
  const refused: [Record<string, string>, string][] = [
    [{ '': SECRET }, 'env refused: a variable has an empty name'],
    [{ 'A=B': SECRET }, `env refused: variable "A=B": its name holds '=' or NUL`],
    [{ 'A\0B': SECRET }, `env refused: variable "A\\u0000B": its name holds '=' or NUL`],
    [{ OK: `${SECRET}\0more` }, `env refused: variable "OK": its value holds NUL`],
  ];
  for (const [env, problem] of refused) {
    assert.is(goEnvProblem(env), problem);
    for (const encode of [() => oneShotGo(env), () => reuseGo(1, env)]) {
      try {
        encode();
        assert.unreachable(`${problem}: encoded`);
      } catch (error) {
        assert.instance(error, RangeError);
        assert.is((error as Error).message, problem);
        assert.not.ok((error as Error).message.includes(SECRET));
      }
    }
  }
  assert.is(goEnvProblem(undefined), null);
  assert.is(goEnvProblem({ PATH_LIKE: 'a:b', UNICODE: 'ü', EMPTY: '' }), null);
});

test(`the env block may hold ${MAX_GO_ENV_BYTES} bytes, not one more`, () => {
  const fits = { N: 'x'.repeat(MAX_GO_ENV_BYTES - 8 - 1) };
  assert.is(goEnvProblem(fits), null);
  assert.is(Buffer.from(oneShotGo(fits)).readUInt32BE(8), MAX_GO_ENV_BYTES);
  const over = { N: 'x'.repeat(MAX_GO_ENV_BYTES - 8) };
  assert.is(goEnvProblem(over), `env refused: ${MAX_GO_ENV_BYTES + 1} bytes, more than ${MAX_GO_ENV_BYTES}`);
  assert.throws(() => oneShotGo(over), /more than 65536/);
});

test('the api refuses a call whose secrets the agent would refuse: the same bound, counted the same way', () => {
  assert.is(MAX_CALL_SECRETS_BYTES, MAX_GO_ENV_BYTES);
  const fits = { A: 'x'.repeat(MAX_GO_ENV_BYTES - 9) };
  assert.is(callSecretsBytes(fits), MAX_GO_ENV_BYTES);
  assert.is(goEnvProblem(fits), null);
  const over = { A: 'é'.repeat((MAX_GO_ENV_BYTES - 9) / 2 + 1) };
  assert.ok(callSecretsBytes(over) > MAX_CALL_SECRETS_BYTES);
  assert.ok(goEnvProblem(over) !== null);
});

test.run();
