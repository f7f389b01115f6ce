/**
 * `skiffctl analyze -f <files|dir>`: validation plus checks across objects, printed as
 * `istioctl analyze` prints (`Warning [SKF0101] (ServiceEntry ns/name file:line) message`), or as JSON.
 * The exit code is 1 when a message reaches `--failure-threshold` (default Error), 2 when an input
 * cannot be read; `--output-threshold` hides quieter messages (default Info: show everything).
 */
import { analyze, atLeast, formatMessage, type Level } from '@skiff/analyzer';
import { loadConfigInputs } from '@skiff/config-files';
import { ExitCode, writeLine, type CommandIO } from '../io.js';
import { paint } from '../style.js';

export interface AnalyzeOptions {
  readonly files: readonly string[];
  readonly namespace: string;
  readonly output: 'log' | 'json';
  readonly failureThreshold: Level;
  readonly outputThreshold: Level;
}

const levelColor = { Error: 'red', Warning: 'yellow', Info: 'cyan' } as const;

export async function runAnalyze(options: AnalyzeOptions, io: CommandIO): Promise<ExitCode> {
  const load = await loadConfigInputs(options.files, { stdin: io.stdin, defaultNamespace: options.namespace });
  for (const error of load.inputErrors) writeLine(io.stderr, `error: ${error.file}: ${error.message}`);
  if (load.inputErrors.length > 0) return ExitCode.Usage;
  const messages = analyze(load);
  const shown = messages.filter((m) => atLeast(m.level, options.outputThreshold));
  if (options.output === 'json') {
    io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  } else if (shown.length === 0) {
    writeLine(io.stderr, `\u2714 No validation issues found when analyzing ${load.files.length === 1 ? load.files[0] : `${load.files.length} files`}.`);
  } else {
    for (const message of shown) writeLine(io.stdout, paint(io.stdout, levelColor[message.level], formatMessage(message)));
  }
  return messages.some((m) => atLeast(m.level, options.failureThreshold)) ? ExitCode.Findings : ExitCode.Ok;
}
