/**
 * Stable command lines for Skiff's services, over commander. Every option has a long flag, an
 * environment variable (`--redis-url` <-> `SKIFF_REDIS_URL`, for Kubernetes manifests), a default
 * written in flag syntax, and a parser. A flag wins over the environment, which wins over the default.
 *
 * Mistakes end the process the way Go flag parsing in istiod does: one line on stderr
 * (`skiff-watcher: invalid value "x" for --redis-url: ...`) and exit code 2, without a stack trace.
 * `interpretCommandLine` is the pure core (argv and env in, values or an exit out) so tests never exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { type LogLevel, type HostPort, messageOf, parseHostPort, parseLogLevel, parseDuration, parseBoolean, type ValueParser } from './parsers.js';
import { SKIFF_VERSION } from './version.js';

/** An option that takes a value: `--flag <value>`. */
export interface ValueOptionSpec<T> {
  /** Long flag without the dashes, kebab-case: `redis-url`. */
  readonly flag: string;
  /** One-letter alias, without the dash (`o` for `-o json`), for flags a stable command line spells short. */
  readonly short?: string;
  /** One line for `--help`. */
  readonly description: string;
  readonly parse: ValueParser<T>;
  /** The default, in flag syntax (`30s`, `:15014`): it goes through `parse` and is shown in `--help`. */
  readonly default?: string;
  /** Without a default, a required option must come from the flag or the environment. */
  readonly required?: boolean;
  /** Environment variable; `SKIFF_` plus the flag in upper snake case when omitted. */
  readonly env?: string;
  /** Placeholder in `--help` (`--redis-url <url>`); `value` when omitted. */
  readonly valueName?: string;
}

/** A switch: `--flag` alone sets it; the environment variable takes `true`/`false`. Defaults to false. */
export interface SwitchOptionSpec {
  readonly flag: string;
  /** One-letter alias, without the dash. */
  readonly short?: string;
  readonly description: string;
  readonly switch: true;
  readonly env?: string;
}

export type OptionSpec = ValueOptionSpec<unknown> | SwitchOptionSpec;

/** The parsed type of one option: `T` when it has a default or is required, else `T | undefined`. */
export type OptionValue<S> = S extends SwitchOptionSpec
  ? boolean
  : S extends { readonly parse: ValueParser<infer T>; readonly default: string }
    ? T
    : S extends { readonly parse: ValueParser<infer T>; readonly required: true }
      ? T
      : S extends { readonly parse: ValueParser<infer T> }
        ? T | undefined
        : never;

export type CommandLineValues<O extends Record<string, OptionSpec>> = { -readonly [K in keyof O]: OptionValue<O[K]> };

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** Program name, the prefix of every error line: `skiff-watcher`. */
  readonly name: string;
  readonly description: string;
  /** Options keyed by the property name they get in the parsed values. */
  readonly options: O;
}

/** What a command line amounts to: values to run with, or an exit with its output. */
export type CommandLineOutcome<V> =
  | { readonly kind: 'run'; readonly values: V }
  | { readonly kind: 'exit'; readonly code: 0 | 2; readonly stdout: string; readonly stderr: string };

/** Where `parseCommandLine` reads and writes; every member defaults to the process's own. */
export interface CommandLineIO {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly exit: (code: number) => never;
}

/** The exit code for a usage error, as Go's `flag` package and istiod use. */
export const USAGE_EXIT_CODE = 2;

/** `redis-url` -> `SKIFF_REDIS_URL`. */
export function envVarForFlag(flag: string): string {
  return `SKIFF_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function envVarOf(spec: OptionSpec): string {
  return spec.env ?? envVarForFlag(spec.flag);
}

function isSwitch(spec: OptionSpec): spec is SwitchOptionSpec {
  return 'switch' in spec;
}

/**
 * Declares a command. The specification is checked here (flags are kebab-case and unique, environment
 * variables unique, defaults parse), so a mistake in a service's own options fails at start-up with a
 * programmer error rather than on some later command line.
 */
export function defineCommand<const O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): CommandSpec<O> {
  const flags = new Set<string>();
  const shortFlags = new Set<string>();
  const envVars = new Set<string>();
  for (const [key, option] of Object.entries(spec.options)) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(option.flag)) throw new Error(`option ${key}: flag "${option.flag}" is not kebab-case`);
    if (option.flag === 'help' || option.flag === 'version') throw new Error(`option ${key}: --${option.flag} is reserved`);
    if (flags.has(option.flag)) throw new Error(`option ${key}: flag --${option.flag} is declared twice`);
    flags.add(option.flag);
    if (option.short !== undefined) {
      if (!/^[a-zA-Z]$/.test(option.short)) throw new Error(`option ${key}: short flag "${option.short}" is not one letter`);
      if (option.short === 'h') throw new Error(`option ${key}: -h is reserved`);
      if (shortFlags.has(option.short)) throw new Error(`option ${key}: short flag -${option.short} is declared twice`);
      shortFlags.add(option.short);
    }
    const envVar = envVarOf(option);
    if (envVars.has(envVar)) throw new Error(`option ${key}: environment variable ${envVar} is declared twice`);
    envVars.add(envVar);
    if (!isSwitch(option) && option.default !== undefined) {
      try {
        option.parse(option.default);
      } catch (error) {
        throw new Error(`option ${key}: default "${option.default}" does not parse: ${messageOf(error)}`, { cause: error });
      }
    }
  }
  return spec;
}

/** Thrown inside `interpretCommandLine` to stop at the first bad value with its one-line message. */
class UsageError extends Error {}

/**
 * Reads a command line without side effects: `argv` holds only the user's arguments (no node and
 * script paths). `--help` gives exit 0 with the help text on stdout; anything wrong gives exit 2 and
 * one line on stderr. `--version` gives exit 0 with `<name> <version>` on stdout.
 */
export function interpretCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CommandLineOutcome<CommandLineValues<O>> {
  let stdout = '';
  const program = buildProgram(spec, (text) => {
    stdout += text;
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return { kind: 'exit', code: 0, stdout, stderr: '' };
    return usageExit(spec.name, error.message.replace(/^error: /, ''));
  }
  try {
    return { kind: 'run', values: resolveValues(spec, program, env) };
  } catch (error) {
    if (error instanceof UsageError) return usageExit(spec.name, error.message);
    throw error;
  }
}

/**
 * Parses the process's command line (or the injected one) and returns the values, or writes the help
 * or the error line and calls `exit` (0 for `--help`, 2 for a usage error).
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  io: Partial<CommandLineIO> = {},
): CommandLineValues<O> {
  const outcome = interpretCommandLine(spec, io.argv ?? process.argv.slice(2), io.env ?? process.env);
  if (outcome.kind === 'run') return outcome.values;
  const writeOut = io.stdout ?? ((text: string) => process.stdout.write(text));
  const writeErr = io.stderr ?? ((text: string) => process.stderr.write(text));
  if (outcome.stdout !== '') writeOut(outcome.stdout);
  if (outcome.stderr !== '') writeErr(outcome.stderr);
  return (io.exit ?? process.exit)(outcome.code);
}

function usageExit(name: string, message: string): CommandLineOutcome<never> {
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim();
  return { kind: 'exit', code: USAGE_EXIT_CODE, stdout: '', stderr: `${name}: ${oneLine}\n` };
}

/** What `--version` prints (without the newline): `skiff-watcher 0.1.0`. */
export function versionLine(name: string): string {
  return `${name} ${SKIFF_VERSION}`;
}

function buildProgram<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>, writeOut: (text: string) => void): Command {
  const specsByLongFlag = new Map<string, OptionSpec>();
  const program = new Command(spec.name)
    .description(spec.description)
    .helpOption('-h, --help', 'show this help and exit')
    .version(versionLine(spec.name), '--version', 'print the version and exit')
    .allowExcessArguments(false)
    .exitOverride()
    // Errors are reported by interpretCommandLine as one line; help goes to the captured stdout.
    .configureOutput({ writeOut, writeErr: () => {}, outputError: () => {} })
    .configureHelp({
      optionDescription: (option) => {
        const optionSpec = option.long === undefined ? undefined : specsByLongFlag.get(option.long);
        if (optionSpec === undefined) return option.description;
        const details = [`env: ${envVarOf(optionSpec)}`];
        if (isSwitch(optionSpec)) details.push('default: false');
        else if (optionSpec.default !== undefined) details.push(`default: ${optionSpec.default === '' ? '""' : optionSpec.default}`);
        else if (optionSpec.required === true) details.push('required');
        return `${option.description} (${details.join(', ')})`;
      },
    });
  for (const optionSpec of Object.values(spec.options)) {
    const long = `--${optionSpec.flag}`;
    specsByLongFlag.set(long, optionSpec);
    const names = optionSpec.short === undefined ? long : `-${optionSpec.short}, ${long}`;
    const flags = isSwitch(optionSpec) ? names : `${names} <${optionSpec.valueName ?? 'value'}>`;
    program.addOption(new Option(flags, optionSpec.description));
  }
  return program;
}

function resolveValues<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  program: Command,
  env: Readonly<Record<string, string | undefined>>,
): CommandLineValues<O> {
  const values: Record<string, unknown> = {};
  for (const [key, optionSpec] of Object.entries(spec.options)) {
    const commanderOption = program.options.find((option) => option.long === `--${optionSpec.flag}`);
    const fromFlag: unknown = commanderOption === undefined ? undefined : program.getOptionValue(commanderOption.attributeName());
    const envVar = envVarOf(optionSpec);
    // An empty variable counts as unset: manifests often render optional values as "".
    const fromEnv = env[envVar] === '' ? undefined : env[envVar];
    if (isSwitch(optionSpec)) {
      values[key] = fromFlag === true ? true : fromEnv === undefined ? false : parseOrExplain(parseBoolean, fromEnv, envVar);
    } else if (typeof fromFlag === 'string') {
      values[key] = parseOrExplain(optionSpec.parse, fromFlag, `--${optionSpec.flag}`);
    } else if (fromEnv !== undefined) {
      values[key] = parseOrExplain(optionSpec.parse, fromEnv, envVar);
    } else if (optionSpec.default !== undefined) {
      values[key] = optionSpec.parse(optionSpec.default);
    } else if (optionSpec.required === true) {
      throw new UsageError(`missing --${optionSpec.flag} (or ${envVar})`);
    } else {
      values[key] = undefined;
    }
  }
  return values as CommandLineValues<O>;
}

function parseOrExplain<T>(parse: ValueParser<T>, raw: string, source: string): T {
  try {
    return parse(raw);
  } catch (error) {
    throw new UsageError(`invalid value "${raw}" for ${source}: ${messageOf(error)}`);
  }
}

/** `--log-level`: pino level for the whole process. */
export const LOG_LEVEL_OPTION = {
  flag: 'log-level',
  description: 'log level: fatal, error, warn, info, debug, trace or silent',
  parse: parseLogLevel,
  default: 'info',
  valueName: 'level',
} as const satisfies ValueOptionSpec<LogLevel>;

/** `--monitoring-addr`: where /healthz, /readyz, /metrics and /debug are served (istiod's port 15014). */
export const MONITORING_ADDRESS_OPTION = {
  flag: 'monitoring-addr',
  description: 'listen address of the monitoring server (/healthz, /readyz, /metrics, /debug)',
  parse: parseHostPort,
  default: ':15014',
  valueName: 'host:port',
} as const satisfies ValueOptionSpec<HostPort>;

/**
 * Who may read `/debug/*` on the monitoring address (`MonitoringServer`'s `debugAccess`): istiod's
 * `ENABLE_DEBUG_ON_HTTP` and `ENABLE_DEBUG_ENDPOINT_AUTH`, and a bearer-token file for callers that
 * are not on the loopback interface.
 */
export const DEBUG_ACCESS_OPTIONS = {
  debugOnHttp: {
    flag: 'debug-on-http',
    description: "serve /debug/* on the monitoring address (istiod's ENABLE_DEBUG_ON_HTTP); /metrics and the probes are served either way",
    parse: parseBoolean,
    default: 'true',
    valueName: 'bool',
  },
  debugAuth: {
    flag: 'debug-auth',
    description: 'require /debug/* callers to be on the loopback interface or to send a bearer token from --debug-token-file (istiod: ENABLE_DEBUG_ENDPOINT_AUTH)',
    parse: parseBoolean,
    default: 'true',
    valueName: 'bool',
  },
  debugTokenFile: {
    flag: 'debug-token-file',
    description: 'file of bearer tokens (one per line) accepted on /debug/* from other hosts; re-read when it changes',
    parse: (value: string): string => value,
    valueName: 'path',
  },
} as const satisfies Record<string, ValueOptionSpec<unknown>>;

/** The `debugAccess` of a `MonitoringServer` from `DEBUG_ACCESS_OPTIONS` values. */
export function debugAccessFromCommandLine(values: { readonly debugOnHttp: boolean; readonly debugAuth: boolean; readonly debugTokenFile: string | undefined }) {
  return {
    enabled: values.debugOnHttp,
    authenticate: values.debugAuth,
    ...(values.debugTokenFile === undefined ? {} : { tokenFile: values.debugTokenFile }),
  };
}

/** `--shutdown-timeout`: how long SIGTERM may take before the process gives up on a clean close. */
export const SHUTDOWN_TIMEOUT_OPTION = {
  flag: 'shutdown-timeout',
  description: 'how long a graceful shutdown may take before the process exits anyway',
  parse: parseDuration,
  default: '10s',
  valueName: 'duration',
} as const satisfies ValueOptionSpec<number>;
