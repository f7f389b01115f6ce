import { describe, expect, it } from 'vitest';
import { createLogger, formatPrettyLine, PrettyLineStream } from './logging.js';

function collector() {
  const lines: string[] = [];
  return { lines, destination: { write: (text: string) => void lines.push(text) } };
}

describe('createLogger (JSON)', () => {
  it('writes one JSON object per line with level name, ISO time, service name and message', () => {
    const { lines, destination } = collector();
    const logger = createLogger({ level: 'info', name: 'skiff-watcher', pretty: false, destination });
    logger.info({ count: 3 }, 'synced');
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(record).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), name: 'skiff-watcher', count: 3, msg: 'synced' });
  });

  it('drops records below the level', () => {
    const { lines, destination } = collector();
    const logger = createLogger({ level: 'warn', name: 'svc', pretty: false, destination });
    logger.info('quiet');
    logger.debug('quieter');
    logger.warn('loud');
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['loud']);
  });

  it('tags child loggers with their component', () => {
    const { lines, destination } = collector();
    const logger = createLogger({ level: 'debug', name: 'svc', pretty: false, destination });
    logger.child({ component: 'informer' }).debug({ kind: 'ServiceEntry' }, 'watch opened');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ name: 'svc', component: 'informer', kind: 'ServiceEntry', level: 'debug' });
  });

  it('serializes errors with type, message and stack', () => {
    const { lines, destination } = collector();
    createLogger({ level: 'info', name: 'svc', pretty: false, destination }).error({ err: new RangeError('bad') }, 'failed');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ err: { type: 'RangeError', message: 'bad', stack: expect.stringContaining('RangeError: bad') } });
  });
});

describe('pretty logging', () => {
  it('prints one human line per record through the logger', () => {
    const { lines, destination } = collector();
    const logger = createLogger({ level: 'info', name: 'skiff-watcher', pretty: true, destination });
    logger.child({ component: 'informer' }).info({ kind: 'ServiceEntry', count: 3 }, 'synced');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}skiff-watcher\/informer: synced kind=ServiceEntry count=3\n$/);
  });

  it('quotes values with spaces and prints objects as JSON', () => {
    const line = formatPrettyLine({ level: 'warn', time: '2026-01-02T03:04:05.678Z', name: 'svc', msg: 'rejected', reason: 'port 0 is invalid', ports: [80, 443] });
    expect(line).toBe('03:04:05.678 WARN  svc: rejected reason="port 0 is invalid" ports=[80,443]\n');
  });

  it('puts an error message on the line and its stack below, indented', () => {
    const line = formatPrettyLine({
      level: 'error',
      time: '2026-01-02T03:04:05.678Z',
      name: 'svc',
      msg: 'write failed',
      err: { type: 'Error', message: 'connection refused', stack: 'Error: connection refused\n    at connect (redis.js:1:1)' },
    });
    expect(line).toBe('03:04:05.678 ERROR svc: write failed err="connection refused"\n    Error: connection refused\n    at connect (redis.js:1:1)\n');
  });

  it('colors the level only when asked', () => {
    const record = { level: 'error', time: '2026-01-02T03:04:05.678Z', msg: 'x' };
    expect(formatPrettyLine(record, false)).not.toContain('\u001b[');
    expect(formatPrettyLine(record, true)).toContain('\u001b[31mERROR\u001b[0m');
  });

  it('passes through text that is not a JSON record', () => {
    const { lines, destination } = collector();
    new PrettyLineStream(destination, false).write('plain text\n');
    expect(lines).toEqual(['plain text\n']);
  });
});
