/** Colour only on a terminal that wants it (NO_COLOR, https://no-color.org, turns it off). */
const CODES = { red: 31, yellow: 33, green: 32, cyan: 36, bold: 1, dim: 2 } as const;
export type Color = keyof typeof CODES;

export function colorsEnabled(stream: NodeJS.WritableStream & { isTTY?: boolean }): boolean {
  return stream.isTTY === true && process.env['NO_COLOR'] === undefined && process.env['TERM'] !== 'dumb';
}

export function paint(stream: NodeJS.WritableStream & { isTTY?: boolean }, color: Color, text: string): string {
  return colorsEnabled(stream) ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;
}
