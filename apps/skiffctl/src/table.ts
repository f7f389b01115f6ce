/**
 * Tables laid out as istioctl lays them out with Go's `text/tabwriter` (`Init(w, 0, 8, padding, ' ', 0)`):
 * each column as wide as its widest cell plus `padding` spaces, the last column unpadded, no trailing
 * spaces. Widths are measured on the plain text, so cells can be coloured after layout without
 * breaking the alignment.
 */

/** How a cell is coloured once laid out (identity when colour is off). */
export type CellPainter = (text: string, column: number, row: number) => string;

export interface TableOptions {
  /** Spaces after each column but the last: istioctl uses 5 for most tables and 1 for listeners. */
  readonly padding: number;
  /** Colours a data cell (row 0 is the first row after the header); the header is never coloured. */
  readonly paint?: CellPainter;
}

/** Lays out `header` and `rows` (every row as long as the header) as lines ending in `\n`. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], options: TableOptions): string {
  const widths = header.map((cell, column) => rows.reduce((width, row) => Math.max(width, (row[column] ?? '').length), cell.length));
  const line = (cells: readonly string[], paint: (text: string, column: number) => string): string =>
    cells
      .map((cell, column) => {
        const last = column === cells.length - 1;
        const padded = last ? cell : cell + ' '.repeat((widths[column] ?? 0) - cell.length + options.padding);
        // Colour the text, not the padding, so the escape codes never count toward a width.
        return paint(cell, column) + padded.slice(cell.length);
      })
      .join('')
      .trimEnd();
  const painter = options.paint;
  return [line(header, (text) => text), ...rows.map((row, index) => line(row, painter ? (text, column) => painter(text, column, index) : (text) => text))]
    .map((text) => `${text}\n`)
    .join('');
}
