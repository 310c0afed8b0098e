/**
 * fast-check arbitraries for hostile HTTP input: strings that break naive parsers, JSON texts
 * that carry prototype keys as data, odd path segments and header values. Everything produced
 * here is something a client can put on the wire; what the client itself refuses (CR, LF, NUL
 * in a header, a space in a request path) is mapped to bytes it accepts, so no run is wasted.
 */
import fc from 'fast-check';

/** Pieces that each broke some parser somewhere: bidi and zero-width marks, lone surrogates, NUL, traversal, template syntax. */
export const HOSTILE_FRAGMENTS = [
  '\u202e', // right-to-left override
  '\u200f', // right-to-left mark
  '\u200b', // zero-width space
  '\u200d', // zero-width joiner
  '\ufeff', // byte order mark
  '\u0000',
  '\ud800', // lone high surrogate
  '\udfff', // lone low surrogate
  '😀',
  '👩‍👩‍👧',
  'e\u0301',
  '\u2028',
  '\u0085',
  'İ', // upper case that lower-cases to two code points
  'ß',
  '%00',
  '%',
  '%zz',
  '../',
  '..\\',
  '%2e%2e%2f',
  '%2F',
  '/',
  '\\',
  '"',
  "'",
  '`',
  '<script>',
  '${7*7}',
  '{{7*7}}',
  '\r\n',
  '\t',
  ' ',
  '@',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'prototype',
  'NaN',
  '-1',
  '1e309',
] as const;

/**
 * Strings a validator has to refuse (or accept) without falling over. `longest` bounds the
 * very long ones (in code points): a path or a header has to stay under Node's 16 KiB.
 */
export const hostileString = (maxLength = 64, longest = 6000): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.constantFrom(...HOSTILE_FRAGMENTS), { maxLength: 8 }).map((parts) => parts.join('')) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('a', 'é', '😀', '\u200b', '%2e'), fc.integer({ min: Math.min(256, longest), max: longest }))
        .map(([unit, times]) => unit.repeat(times)),
    },
  );

/** Email-shaped strings with hostile code points slipped in, plus very long and case-folded ones. */
export const hostileEmail = (known: string[] = []): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .tuple(fc.emailAddress(), fc.constantFrom(...HOSTILE_FRAGMENTS), fc.nat())
      .map(([email, fragment, at]) => {
        const position = at % (email.length + 1);
        return `${email.slice(0, position)}${fragment}${email.slice(position)}`;
      }),
    fc.emailAddress(),
    fc.tuple(fc.constantFrom('a', 'é', '\u202e'), fc.integer({ min: 60, max: 400 })).map(([unit, times]) => `${unit.repeat(times)}@example.com`),
    ...(known.length > 0 ? [fc.constantFrom(...known.flatMap((email) => [email, email.toUpperCase(), ` ${email} `, `${email}\u0000`]))] : []),
    hostileString(),
  );

/** A JSON value as a tree whose objects are entry lists, so `__proto__` stays a plain key when written out. */
export type JsonTree = null | boolean | number | string | JsonTree[] | { entries: [string, JsonTree][] };

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/**
 * What a polluted Object.prototype would carry: every name that, were it inherited, would
 * change an answer afterwards (a default timeout, an empty env, an operator flag, a deleted user).
 */
export const POLLUTION_PAYLOAD: [string, JsonTree][] = [
  ['polluted', 'yes'],
  ['timeoutMs', 4242],
  ['memoryMb', 42],
  ['env', { entries: [['POLLUTED', '1']] }],
  ['command', ['polluted']],
  ['operator', true],
  ['deleted', true],
  ['status', 500],
  ['isAdmin', true],
];

const pollutionSubtree: fc.Arbitrary<[string, JsonTree]> = fc
  .constantFrom<[string, JsonTree][]>(
    [['__proto__', { entries: POLLUTION_PAYLOAD }]],
    [['constructor', { entries: [['prototype', { entries: POLLUTION_PAYLOAD }]] }]],
    [['prototype', { entries: POLLUTION_PAYLOAD }]],
    [['__proto__', { entries: [['__proto__', { entries: POLLUTION_PAYLOAD }]] }]],
  )
  .map((entries) => entries[0]!);

const scalar: fc.Arbitrary<JsonTree> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1e21, 0.5, -0),
  hostileString(),
);

/** Any JSON value, keys included hostile ones, at most `depth` deep. */
export const jsonTree = (depth = 3): fc.Arbitrary<JsonTree> =>
  fc.letrec<{ tree: JsonTree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', maxDepth: depth, withCrossShrink: true },
      scalar,
      fc.array(tie('tree'), { maxLength: 4 }),
      fc.array(fc.tuple(fc.oneof(hostileString(16), fc.constantFrom(...POLLUTION_KEYS)), tie('tree')), { maxLength: 4 }).map((entries) => ({ entries })),
    ),
  })).tree;

/** Writes a tree as JSON text, keeping every key as it is (`JSON.stringify` of an object cannot hold `__proto__` as data). */
export function writeJson(tree: JsonTree): string {
  if (tree === null || typeof tree !== 'object') return JSON.stringify(tree);
  if (Array.isArray(tree)) return `[${tree.map(writeJson).join(',')}]`;
  return `{${tree.entries.map(([key, value]) => `${JSON.stringify(key)}:${writeJson(value)}`).join(',')}}`;
}

/** Hides pollution keys at a random depth of a tree: at the top, inside a nested object, inside an array. */
export const withPollution = (tree: fc.Arbitrary<JsonTree>): fc.Arbitrary<JsonTree> =>
  fc.tuple(tree, pollutionSubtree, fc.nat({ max: 3 })).map(([base, pollution, depth]) => plant(base, pollution, depth));

function plant(tree: JsonTree, pollution: [string, JsonTree], depth: number): JsonTree {
  const object = tree !== null && typeof tree === 'object' && !Array.isArray(tree) ? tree : { entries: [['value', tree]] as [string, JsonTree][] };
  if (depth === 0) return { entries: [pollution, ...object.entries] };
  const [first, ...rest] = object.entries;
  const inner: JsonTree = first ? first[1] : { entries: [] };
  const nested = depth % 2 === 0 ? [plant(inner, pollution, depth - 1)] : plant(inner, pollution, depth - 1);
  return { entries: [[first?.[0] ?? 'nested', nested], ...rest] };
}

/** JSON texts no parser should accept, and a few that look broken but are valid. */
export const malformedJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '{"email":',
    '[',
    'nul',
    '{"a":1,}',
    "{'a':1}",
    '\ufeff{}',
    '{"a":1}{"b":2}',
    'NaN',
    '{"a": undefined}',
    '\u0000',
    '{"a":"\\ud800"}',
    '{"a":"\\u0000"}',
    '{"a":1e999999}',
    '{"a":-}',
    '"just a string"',
    '123',
    'true',
    'null',
    '[]',
    `${'['.repeat(900)}${']'.repeat(900)}`,
    `${'{"a":'.repeat(300)}1${'}'.repeat(300)}`,
    '{"__proto__":',
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  jsonTree(2).map((tree) => writeJson(tree)).chain((text) => fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut))),
);

/** Media types a client may claim, the right one in its many spellings included. */
export const contentTypes = (declared: string[]): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...declared) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/vnd.api+json',
        'application/merge-patch+json',
        'application/json;',
        'application/json, text/plain',
        'application/json; charset=utf-16',
        'application/jsonp',
        'application/ json',
        'application/json\t',
        'text/plain',
        'text/json',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/octet-stream',
        '*/*',
        '',
        'application/json; boundary="\u00e9"',
      ),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: hostileString(40, 200).map(toHeaderValue) },
  );

/**
 * A string as bytes Node's HTTP client will send in a header: its UTF-8 read as Latin-1, with
 * CR, LF, NUL and other control bytes (which the client refuses) turned into `?`. fetch and Node
 * refuse to send those; what reaches a server from a real client is what is left.
 */
export function toHeaderValue(text: string): string {
  return Buffer.from(text, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')
    .trim();
}

/** Percent-encodes every byte of the UTF-8 of `text` but unreserved ones (lone surrogates become U+FFFD, as any encoder does). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9._~-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * What a sloppy client sends: printable ASCII as it is (`%`, `\\`, `"`, `{`, `'`, `..`, `&`),
 * only what no request line may hold (controls, spaces, `#`, bytes past ASCII) percent-encoded.
 */
export function sloppyEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x23 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Path segments as they go on the wire, unnormalised: traversal in every encoding, encoded
 * slashes and NUL, overlong UTF-8, broken escapes, very long ones, and known ids.
 */
export const hostileSegment = (known: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: known.length > 0 ? fc.constantFrom(...known) : fc.uuid() },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: known.length > 0 ? fc.constantFrom(...known).map((id) => id.toUpperCase()) : fc.uuid() },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '..',
        '.',
        '%2e%2e',
        '%2e%2e%2f',
        '..%2f..%2f..%2fetc%2fpasswd',
        '..\\..\\windows',
        '%2e%2e%5c',
        '..%5c..%5c',
        '%252e%252e%252f',
        '%c0%ae%c0%ae%c0%af',
        '%2F',
        '%00',
        'a%00b',
        '%',
        '%zz',
        '%E0%A4%A',
        '%ED%A0%80', // an encoded lone surrogate
        ';',
        'id;jsessionid=1',
        '%3F',
        '%23',
        '~',
        'user-00000000-0000-0000-0000-000000000000',
        '$all',
        'a'.repeat(4000),
      ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(known.length > 0 ? fc.constantFrom(...known) : fc.uuid(), fc.constantFrom('%00', '%2F..', '/..', '%20', '.json', '/', '%0d%0a'))
        .map(([id, suffix]) => `${id}${suffix}`),
    },
    { weight: 3, arbitrary: hostileString(80, 200).map(percentEncode) },
  );

/** Bogus request ids: what the server must neither log as is nor echo back. */
export const requestIdHeader: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('ok-id-1', 'a'.repeat(129), 'a b', 'id;drop', 'x\tinjected', '../../etc', '${jndi:ldap://x}', 'line1\r\nx-injected: 1'),
  hostileString(200, 300),
).map((value) => (value === undefined ? undefined : toHeaderValue(value)));
