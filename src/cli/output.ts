// How client commands print: one line of JSON for `--json`, aligned text for people.

export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** Aligned columns, headers in capitals, as `docker ps` prints them. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}

/** `label  value` lines, labels aligned; undefined values are left out. */
export function printFields(fields: readonly (readonly [string, string | undefined])[]) {
  const shown = fields.filter((field): field is readonly [string, string] => field[1] !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length));
  process.stdout.write(shown.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n') + '\n');
}
