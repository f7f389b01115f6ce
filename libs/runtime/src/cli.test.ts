import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  defineCommand,
  envVarForFlag,
  interpretCommandLine,
  LOG_LEVEL_OPTION,
  MONITORING_ADDRESS_OPTION,
  parseCommandLine,
  SHUTDOWN_TIMEOUT_OPTION,
  type CommandLineValues,
} from './cli.js';
import { commaListOf, parseDuration, parsePositiveInteger, urlWithSchemes, type HostPort, type LogLevel } from './parsers.js';

const watcher = defineCommand({
  name: 'skiff-watcher',
  description: 'Watches ServiceEntries and WorkloadEntries and writes them to Redis',
  options: {
    redisUrl: {
      flag: 'redis-url',
      description: 'Redis to write to',
      parse: urlWithSchemes(['redis:', 'rediss:']),
      default: 'redis://127.0.0.1:6379',
      valueName: 'url',
    },
    resyncPeriod: { flag: 'resync-period', description: 'full resync interval', parse: parseDuration, default: '30m', valueName: 'duration' },
    namespaces: { flag: 'namespaces', description: 'namespaces to watch, all when empty', parse: commaListOf((item) => item), default: '' },
    workers: { flag: 'workers', description: 'concurrent writes', parse: parsePositiveInteger, default: '4', valueName: 'n' },
    leaseName: { flag: 'lease-name', description: 'Redis lease key', parse: (raw) => raw, required: true, env: 'SKIFF_LEASE' },
    configDir: { flag: 'config-dir', description: 'read YAML from this directory instead of Kubernetes', parse: (raw) => raw },
    dryRun: { flag: 'dry-run', description: 'validate and log, write nothing', switch: true },
    logLevel: LOG_LEVEL_OPTION,
    monitoringAddress: MONITORING_ADDRESS_OPTION,
    shutdownTimeout: SHUTDOWN_TIMEOUT_OPTION,
  },
});

function run(argv: string[], env: Record<string, string> = {}) {
  return interpretCommandLine(watcher, argv, { SKIFF_LEASE: 'watcher-lease', ...env });
}

function valuesOf(argv: string[], env: Record<string, string> = {}): CommandLineValues<typeof watcher.options> {
  const outcome = run(argv, env);
  if (outcome.kind !== 'run') throw new Error(`expected values, got exit ${outcome.code}: ${outcome.stderr}`);
  return outcome.values;
}

describe('interpretCommandLine', () => {
  it('uses the defaults, parsed, when neither flag nor environment is given', () => {
    expect(valuesOf([])).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      resyncPeriod: 1_800_000,
      namespaces: [],
      workers: 4,
      leaseName: 'watcher-lease',
      configDir: undefined,
      dryRun: false,
      logLevel: 'info',
      monitoringAddress: { host: '', port: 15014 },
      shutdownTimeout: 10_000,
    });
  });

  it('types each value from its parser, default and required flag', () => {
    const values = valuesOf([]);
    expectTypeOf(values.redisUrl).toEqualTypeOf<string>();
    expectTypeOf(values.resyncPeriod).toEqualTypeOf<number>();
    expectTypeOf(values.namespaces).toEqualTypeOf<string[]>();
    expectTypeOf(values.leaseName).toEqualTypeOf<string>();
    expectTypeOf(values.configDir).toEqualTypeOf<string | undefined>();
    expectTypeOf(values.dryRun).toEqualTypeOf<boolean>();
    expectTypeOf(values.logLevel).toEqualTypeOf<LogLevel>();
    expectTypeOf(values.monitoringAddress).toEqualTypeOf<HostPort>();
  });

  it('reads SKIFF_<FLAG> environment variables', () => {
    const values = valuesOf([], {
      SKIFF_REDIS_URL: 'rediss://redis.example:6380',
      SKIFF_RESYNC_PERIOD: '1h',
      SKIFF_NAMESPACES: 'a, b',
      SKIFF_DRY_RUN: 'true',
      SKIFF_MONITORING_ADDR: '[::1]:9000',
    });
    expect(values).toMatchObject({
      redisUrl: 'rediss://redis.example:6380',
      resyncPeriod: 3_600_000,
      namespaces: ['a', 'b'],
      dryRun: true,
      monitoringAddress: { host: '::1', port: 9000 },
    });
  });

  it('prefers the flag over the environment, in both --flag value and --flag=value forms', () => {
    const values = valuesOf(['--redis-url', 'redis://flag:1', '--workers=8', '--dry-run', '--log-level', 'DEBUG'], {
      SKIFF_REDIS_URL: 'redis://env:2',
      SKIFF_WORKERS: '2',
      SKIFF_DRY_RUN: 'false',
    });
    expect(values).toMatchObject({ redisUrl: 'redis://flag:1', workers: 8, dryRun: true, logLevel: 'debug' });
  });

  it('treats an empty environment variable as unset', () => {
    expect(valuesOf([], { SKIFF_WORKERS: '' }).workers).toBe(4);
  });

  it('uses the overridden environment variable name', () => {
    expect(valuesOf([], { SKIFF_LEASE: 'other' }).leaseName).toBe('other');
    expect(valuesOf(['--lease-name', 'from-flag']).leaseName).toBe('from-flag');
  });

  it.each([
    [['--redis-ur', 'x'], {}, "skiff-watcher: unknown option '--redis-ur' (Did you mean --redis-url?)\n"],
    [['--nope'], {}, "skiff-watcher: unknown option '--nope'\n"],
    [['--workers'], {}, "skiff-watcher: option '--workers <n>' argument missing\n"],
    [['extra'], {}, "skiff-watcher: too many arguments. Expected 0 arguments but got 1.\n"],
    [['--workers', '0'], {}, 'skiff-watcher: invalid value "0" for --workers: expected a positive integer\n'],
    [['--redis-url', 'http://x:1'], {}, 'skiff-watcher: invalid value "http://x:1" for --redis-url: scheme must be redis:// or rediss://\n'],
    [['--resync-period=10'], {}, 'skiff-watcher: invalid value "10" for --resync-period: expected a duration such as 10ms, 30s, 5m or 1h (units: ms, s, m, h)\n'],
    [[], { SKIFF_MONITORING_ADDR: '15014' }, 'skiff-watcher: invalid value "15014" for SKIFF_MONITORING_ADDR: expected host:port or :port, for example :15014 or 127.0.0.1:15010\n'],
    [[], { SKIFF_DRY_RUN: 'perhaps' }, 'skiff-watcher: invalid value "perhaps" for SKIFF_DRY_RUN: expected true or false\n'],
    [[], { SKIFF_LOG_LEVEL: 'loud' }, 'skiff-watcher: invalid value "loud" for SKIFF_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent\n'],
  ])('exits 2 with one line for %j %j', (argv, env, stderr) => {
    expect(run(argv, env)).toEqual({ kind: 'exit', code: 2, stdout: '', stderr });
  });

  it('exits 2 when a required option is missing from both flag and environment', () => {
    expect(interpretCommandLine(watcher, [], {})).toEqual({
      kind: 'exit',
      code: 2,
      stdout: '',
      stderr: 'skiff-watcher: missing --lease-name (or SKIFF_LEASE)\n',
    });
  });

  it('prints every flag with its environment variable and default for --help, and exits 0', () => {
    const outcome = run(['--help']);
    expect(outcome.kind).toBe('exit');
    if (outcome.kind !== 'exit') return;
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).toBe('');
    const help = outcome.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('Usage: skiff-watcher [options]');
    expect(help).toContain('--redis-url <url> Redis to write to (env: SKIFF_REDIS_URL, default: redis://127.0.0.1:6379)');
    expect(help).toContain('--resync-period <duration> full resync interval (env: SKIFF_RESYNC_PERIOD, default: 30m)');
    expect(help).toContain('(env: SKIFF_NAMESPACES, default: "")');
    expect(help).toContain('--lease-name <value> Redis lease key (env: SKIFF_LEASE, required)');
    expect(help).toContain('--config-dir <value> read YAML from this directory instead of Kubernetes (env: SKIFF_CONFIG_DIR)');
    expect(help).toContain('--dry-run validate and log, write nothing (env: SKIFF_DRY_RUN, default: false)');
    expect(help).toContain('--monitoring-addr <host:port>');
    expect(help).toContain('(env: SKIFF_MONITORING_ADDR, default: :15014)');
    expect(help).toContain('-h, --help show this help and exit');
    expect(run(['-h'])).toEqual(outcome);
  });

  it('prints the root package.json version for --version, and exits 0', () => {
    const rootVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(run(['--version'])).toEqual({ kind: 'exit', code: 0, stdout: `skiff-watcher ${rootVersion}\n`, stderr: '' });
    expect(run(['--help'])).toMatchObject({ kind: 'exit', stdout: expect.stringContaining('--version') });
  });
});

describe('parseCommandLine', () => {
  class ExitCalled extends Error {
    constructor(readonly code: number) {
      super(`exit ${code}`);
    }
  }
  function harness(argv: string[], env: Record<string, string>) {
    const written = { stdout: '', stderr: '' };
    const io = {
      argv,
      env,
      stdout: (text: string) => {
        written.stdout += text;
      },
      stderr: (text: string) => {
        written.stderr += text;
      },
      exit: (code: number): never => {
        throw new ExitCalled(code);
      },
    };
    return { io, written };
  }

  it('returns the values without writing anything', () => {
    const { io, written } = harness(['--workers', '2'], { SKIFF_LEASE: 'l' });
    expect(parseCommandLine(watcher, io).workers).toBe(2);
    expect(written).toEqual({ stdout: '', stderr: '' });
  });

  it('writes the error line to stderr and exits 2', () => {
    const { io, written } = harness(['--workers', 'many'], { SKIFF_LEASE: 'l' });
    expect(() => parseCommandLine(watcher, io)).toThrow(new ExitCalled(2));
    expect(written).toEqual({ stdout: '', stderr: 'skiff-watcher: invalid value "many" for --workers: expected a positive integer\n' });
  });

  it('writes the help to stdout and exits 0', () => {
    const { io, written } = harness(['--help'], {});
    expect(() => parseCommandLine(watcher, io)).toThrow(new ExitCalled(0));
    expect(written.stdout).toContain('SKIFF_REDIS_URL');
    expect(written.stderr).toBe('');
  });
});

describe('short flags', () => {
  const report = defineCommand({
    name: 'skiff-report',
    description: 'x',
    options: {
      output: { flag: 'output', short: 'o', description: 'table or json', parse: (raw) => raw, default: 'table', valueName: 'format' },
      verbose: { flag: 'verbose', short: 'v', description: 'more', switch: true },
    },
  });

  it('accepts the one-letter alias and the long flag alike', () => {
    for (const argv of [['-o', 'json', '-v'], ['--output', 'json', '--verbose'], ['-ojson', '-v']]) {
      const outcome = interpretCommandLine(report, argv, {});
      expect(outcome).toEqual({ kind: 'run', values: { output: 'json', verbose: true } });
    }
    expect(interpretCommandLine(report, [], {})).toEqual({ kind: 'run', values: { output: 'table', verbose: false } });
  });

  it('shows the alias in --help and rejects bad or duplicate aliases', () => {
    const help = interpretCommandLine(report, ['--help'], {});
    expect(help.kind === 'exit' ? help.stdout : '').toContain('-o, --output <format>');
    const base = { name: 'skiff-x', description: 'x' };
    expect(() => defineCommand({ ...base, options: { a: { flag: 'a', short: 'ab', description: '', parse: String } } })).toThrow('not one letter');
    expect(() => defineCommand({ ...base, options: { a: { flag: 'a', short: 'h', description: '', parse: String } } })).toThrow('-h is reserved');
    expect(() =>
      defineCommand({ ...base, options: { a: { flag: 'a', short: 'x', description: '', parse: String }, b: { flag: 'b', short: 'x', description: '', switch: true } } }),
    ).toThrow('-x is declared twice');
  });
});

describe('defineCommand', () => {
  it('derives environment variable names from flags', () => {
    expect(envVarForFlag('redis-url')).toBe('SKIFF_REDIS_URL');
    expect(envVarForFlag('workers')).toBe('SKIFF_WORKERS');
  });

  it('rejects mistakes in the specification itself', () => {
    const base = { name: 'skiff-x', description: 'x' };
    expect(() => defineCommand({ ...base, options: { a: { flag: 'Redis_Url', description: '', parse: String } } })).toThrow('not kebab-case');
    expect(() => defineCommand({ ...base, options: { a: { flag: 'help', description: '', parse: String } } })).toThrow('reserved');
    expect(() => defineCommand({ ...base, options: { a: { flag: 'version', description: '', parse: String } } })).toThrow('--version is reserved');
    expect(() =>
      defineCommand({ ...base, options: { a: { flag: 'x', description: '', parse: String }, b: { flag: 'x', description: '', parse: String } } }),
    ).toThrow('--x is declared twice');
    expect(() =>
      defineCommand({
        ...base,
        options: { a: { flag: 'x', description: '', parse: String }, b: { flag: 'y', description: '', parse: String, env: 'SKIFF_X' } },
      }),
    ).toThrow('SKIFF_X is declared twice');
    expect(() => defineCommand({ ...base, options: { a: { flag: 'period', description: '', parse: parseDuration, default: '5' } } })).toThrow(
      'default "5" does not parse',
    );
  });
});
