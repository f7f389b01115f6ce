/**
 * Structured logging with pino. Services log JSON lines (one object per line, `level` as a name,
 * `time` in ISO 8601, `name` of the service and `component` of the child logger), which log
 * pipelines parse without configuration. On a terminal the same records are printed as one
 * human-readable line each by a small formatter in this file instead of pino-pretty: it keeps the
 * dependency tree small and needs no worker thread, and the services need nothing pino-pretty adds.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './parsers.js';

/** A service's logger. Create per-component children with `logger.child({ component: 'informer' })`. */
export type Logger = PinoLogger;

export interface LoggerOptions {
  /** Lowest level written. */
  readonly level: LogLevel;
  /** The service name, on every record as `name`. */
  readonly name: string;
  /** One human line per record instead of JSON; defaults to whether stdout is a terminal. */
  readonly pretty?: boolean;
  /**
   * Where records go; stdout when omitted. A pretty logger writes formatted lines to it, so it must
   * accept strings (a test passes an object that collects them).
   */
  readonly destination?: DestinationStream;
}

/** Creates the process's root logger. */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const pinoOptions = {
    level: options.level,
    // Only the name: pid and hostname repeat on every line, and Kubernetes records both for each pod.
    base: { name: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (pretty) {
    const out = options.destination ?? { write: (text: string) => void process.stdout.write(text) };
    return pino(pinoOptions, new PrettyLineStream(out, options.destination === undefined && process.stdout.isTTY === true));
  }
  // pino's own stdout destination buffers asynchronously and flushes on process exit.
  return options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
}

/** A logger that drops everything, for tests and for code paths that take an optional logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVEL_COLORS: Readonly<Record<string, string>> = {
  trace: '\u001b[90m',
  debug: '\u001b[36m',
  info: '\u001b[32m',
  warn: '\u001b[33m',
  error: '\u001b[31m',
  fatal: '\u001b[35m',
};
const RESET = '\u001b[0m';
/** Record fields shown in the line's fixed part rather than as key=value pairs. */
const FIXED_FIELDS = new Set(['level', 'time', 'name', 'component', 'msg', 'err']);

/**
 * Turns pino's JSON records into lines such as
 * `12:04:05.123 INFO  watcher/informer: synced kind=ServiceEntry count=3`.
 * An error's stack follows on indented lines, the one exception to one line per record.
 */
export class PrettyLineStream implements DestinationStream {
  constructor(
    private readonly out: DestinationStream,
    private readonly colors: boolean,
  ) {}

  write(record: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(record) as Record<string, unknown>;
    } catch {
      this.out.write(record);
      return;
    }
    this.out.write(formatPrettyLine(parsed, this.colors));
  }
}

/** Formats one pino record (already parsed) as a human line ending in a newline. */
export function formatPrettyLine(record: Readonly<Record<string, unknown>>, colors = false): string {
  const time = typeof record['time'] === 'string' ? record['time'].slice(11, 23) : '';
  const level = String(record['level'] ?? '').toUpperCase();
  const paddedLevel = level.padEnd(5);
  const coloredLevel = colors ? `${LEVEL_COLORS[level.toLowerCase()] ?? ''}${paddedLevel}${RESET}` : paddedLevel;
  const origin = [record['name'], record['component']].filter((part) => typeof part === 'string' && part !== '').join('/');
  const message = typeof record['msg'] === 'string' ? record['msg'] : '';
  const fields = Object.entries(record)
    .filter(([key]) => !FIXED_FIELDS.has(key))
    .map(([key, value]) => `${key}=${formatFieldValue(value)}`);
  const error = record['err'];
  let errorText = '';
  if (typeof error === 'object' && error !== null) {
    const { message: errorMessage, stack } = error as { message?: unknown; stack?: unknown };
    fields.push(`err=${formatFieldValue(typeof errorMessage === 'string' ? errorMessage : error)}`);
    if (typeof stack === 'string') {
      errorText = `\n${stack
        .split('\n')
        .map((line) => `    ${line.trim()}`)
        .join('\n')}`;
    }
  }
  const head = [time, coloredLevel, origin === '' ? message : `${origin}: ${message}`].filter((part) => part !== '').join(' ');
  return `${[head, ...fields].join(' ')}${errorText}\n`;
}

function formatFieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
