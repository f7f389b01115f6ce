/**
 * `skiffctl validate -f <file|dir|->...`: one line per object, `ok <Kind> <ns>/<name>` or
 * `invalid <Kind> <ns>/<name>: <field>: <reason>`, with istiod's validation messages. Exit 1 if any
 * object is invalid or any document is unusable, 2 if an input cannot be read.
 */
import { loadConfigInputs } from '@skiff/config-files';
import { formatFieldError, formatParseError, objectLabel, type FieldError, type SourceRef } from '@skiff/model';
import { ExitCode, writeLine, type CommandIO } from '../io.js';

export interface ValidateOptions {
  readonly files: readonly string[];
  readonly namespace?: string;
}

interface Line {
  readonly source: SourceRef;
  readonly text: string;
  readonly warnings: readonly FieldError[];
}

/** Orders findings as the objects appear in the inputs. */
function bySourcePosition(files: readonly string[]): (a: Line, b: Line) => number {
  const fileIndex = new Map(files.map((file, index) => [file, index]));
  return (a, b) =>
    (fileIndex.get(a.source.file) ?? 0) - (fileIndex.get(b.source.file) ?? 0) ||
    a.source.document - b.source.document ||
    (a.source.item ?? 0) - (b.source.item ?? 0);
}

export async function runValidate(options: ValidateOptions, io: CommandIO): Promise<ExitCode> {
  const load = await loadConfigInputs(options.files, { stdin: io.stdin, ...(options.namespace === undefined ? {} : { defaultNamespace: options.namespace }) });
  for (const error of load.inputErrors) writeLine(io.stderr, `error: ${error.file}: ${error.message}`);
  const lines: Line[] = [
    ...load.accepted.map((o) => ({ source: o.source, text: `ok ${objectLabel(o.kind, o.namespace, o.name)}`, warnings: o.warnings })),
    ...load.rejected.map((o) => ({
      source: o.source,
      text: `invalid ${objectLabel(o.kind, o.namespace, o.name)}: ${o.errors.map((e) => (e.field === '' ? e.reason : `${e.field}: ${e.reason}`)).join('; ')}`,
      warnings: [],
    })),
    ...load.ignored.map((o) => ({ source: o.source, text: `ignored ${objectLabel(o.kind, o.namespace, o.name)}: not used by Skiff`, warnings: [] })),
  ];
  for (const line of lines.sort(bySourcePosition(load.files))) {
    writeLine(io.stdout, line.text);
    for (const warning of line.warnings) writeLine(io.stderr, `warning: ${formatFieldError(warning)}`);
  }
  for (const error of load.errors) writeLine(io.stderr, `error: ${formatParseError(error)}`);
  if (load.inputErrors.length > 0) return ExitCode.Usage;
  return load.rejected.length > 0 || load.errors.length > 0 ? ExitCode.Findings : ExitCode.Ok;
}
