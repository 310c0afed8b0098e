/**
 * Gos with an env part built byte by byte, as no correct worker sends them (oneShotGo and reuseGo
 * refuse these): for the tests of what the agent itself refuses.
 */

/** One variable as raw bytes: a name with '=', a value with NUL, an empty name. */
export type RawVariable = [name: string | Buffer, value: string | Buffer];

const u32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
};

/** The env block of these variables, length-prefixed as the protocol says, whatever they hold. */
export const rawEnvBlock = (variables: RawVariable[]): Buffer =>
  Buffer.concat(variables.flatMap(([name, value]) => [u32(Buffer.byteLength(name)), Buffer.from(name), u32(Buffer.byteLength(value)), Buffer.from(value)]));

/**
 * A version 3 (one-shot) or 4 (reuse) go's header and env part, `block` as the env block; for
 * version 4 the stdin length follows (`stdinLength`, default 0).
 */
export function rawEnvGo(version: 3 | 4, block: Buffer, stdinLength = 0): Buffer {
  const header = Buffer.from([0x46, 0x42, 0x58, 0x47, 0x4f, version, 0, 0]);
  return Buffer.concat([header, u32(block.length), block, ...(version === 4 ? [u32(stdinLength)] : [])]);
}
