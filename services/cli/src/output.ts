/** What people read (aligned tables) and what scripts read (`--json`, one document on stdout). */

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

const cell = (value: unknown): string => {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
};

export function table<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...cells.map((line) => line[index]!.length)),
  );
  const format = (line: string[]) =>
    line
      .map((text, index) => text.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  return [format(columns.map((column) => column.header.toUpperCase())), ...cells.map(format)].join('\n');
}

/** A two-column list of fields, for one object. */
export function fields(entries: ReadonlyArray<[string, unknown]>): string {
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries.map(([name, value]) => `${`${name}:`.padEnd(width + 1)}  ${cell(value)}`).join('\n');
}

export interface Output {
  json: boolean;
  /** Prints the JSON document with --json, else the text the function makes. */
  result(data: unknown, text: () => string): void;
  /** A line for people on stderr, so stdout stays the result. */
  note(line: string): void;
}

export function createOutput(
  json: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Output {
  return {
    json,
    result(data, text) {
      stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
    },
    note(line) {
      stderr.write(`${line}\n`);
    },
  };
}
