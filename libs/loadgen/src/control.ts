/**
 * A benchmark driver's line protocol to a running load generator (`skiff-loadgen --control`): one
 * JSON request per line in, one JSON reply per line out, matched by `id` (replies to waits come when
 * the wait ends, so they may overtake earlier ones).
 *
 *   {"id":1,"op":"status"}                                   -> {"id":1,"ok":true,"status":{...}}
 *   {"id":2,"op":"ready","timeoutMs":60000}                  -> {"id":2,"ok":true,"ready":true,"status":{...}}
 *   {"id":3,"op":"arrivals","type":"eds","name":"outbound|80||a.ns.svc","since":1767225600000,"timeoutMs":5000}
 *                                                            -> {"id":3,"ok":true,"subscribers":10,"delaysMs":[3,4,...],"missing":0}
 *   {"id":4,"op":"summary"}                                  -> {"id":4,"ok":true,"summary":{...}}
 *   {"id":5,"op":"stop"}                                     -> {"id":5,"ok":true,"summary":{...}}, then the streams end
 *   {"id":6,"op":"open"}                                     -> {"id":6,"ok":true,"status":{...}} once every stream is opened
 *
 * `open` is for a generator started holding its streams (`skiff-loadgen --hold`): a benchmark starts it
 * (process start, cluster file read, proxies planned) before the server it measures, then has every
 * proxy connect once that server is up, so the server's start-up is measured without the generator's.
 *
 * `arrivals` answers which subscribers of a resource received a new version at or after `since`
 * (epoch milliseconds, the wall clock both processes share), with each one's delay; with `timeoutMs`
 * it waits until all have, or the time is up. `type` is a short name (`cds`, `eds`, `lds`, `rds`) or
 * a type URL.
 */
import { createInterface } from 'node:readline';
import { TypeUrl } from '@skiff/protos';
import type { LoadGenerator } from './generator.js';

const TYPE_URLS: Readonly<Record<string, string>> = { cds: TypeUrl.Cluster, eds: TypeUrl.ClusterLoadAssignment, lds: TypeUrl.Listener, rds: TypeUrl.RouteConfiguration };

export interface ControlOptions {
  readonly generator: LoadGenerator;
  readonly input: NodeJS.ReadableStream;
  /** Writes one reply line (without the line break). */
  readonly write: (line: string) => void;
  /** Stops the run after a `stop` request has been answered. */
  readonly stop: () => void;
  /** Opens the streams held back at start; absent when they were opened at start. */
  readonly open?: () => Promise<void>;
}

class ControlRequestError extends Error {}

function field<T>(request: Record<string, unknown>, name: string, kind: 'string' | 'number', fallback?: T): T {
  const value = request[name];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== kind || (kind === 'number' && !Number.isFinite(value))) throw new ControlRequestError(`"${name}" must be a ${kind}`);
  return value as T;
}

function typeUrlOf(type: string): string {
  return TYPE_URLS[type] ?? type;
}

async function answer(request: Record<string, unknown>, options: ControlOptions): Promise<Record<string, unknown>> {
  const { generator } = options;
  switch (request['op']) {
    case 'status':
      return { status: generator.status() };
    case 'ready': {
      const ready = await generator.whenReady(field(request, 'timeoutMs', 'number', 60_000));
      return { ready, status: generator.status() };
    }
    case 'arrivals': {
      const typeUrl = typeUrlOf(field<string>(request, 'type', 'string', 'eds'));
      const name = field<string>(request, 'name', 'string');
      const since = field<number>(request, 'since', 'number');
      const timeoutMs = field<number>(request, 'timeoutMs', 'number', 0);
      const query = timeoutMs > 0 ? await generator.recorder.waitForArrivals(typeUrl, name, since, timeoutMs) : generator.recorder.arrivalsSince(typeUrl, name, since);
      return { ...query };
    }
    case 'summary':
      return { summary: generator.summary() };
    case 'stop':
      return { summary: generator.summary() };
    case 'open':
      if (options.open === undefined) throw new ControlRequestError('the streams were opened at start (hold them with --hold)');
      await options.open();
      return { status: generator.status() };
    default:
      throw new ControlRequestError(`unknown op ${JSON.stringify(request['op'])}; expected status, ready, arrivals, summary, stop or open`);
  }
}

/** Serves requests from `input` until it ends; resolves then. */
export async function serveControl(options: ControlOptions): Promise<void> {
  const lines = createInterface({ input: options.input, crlfDelay: Infinity });
  const pending = new Set<Promise<void>>();
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const handled = handleLine(line, options).finally(() => pending.delete(handled));
    pending.add(handled);
  }
  await Promise.all(pending);
}

async function handleLine(line: string, options: ControlOptions): Promise<void> {
  let id: unknown = null;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ControlRequestError('a request is a JSON object');
    const request = parsed as Record<string, unknown>;
    id = request['id'] ?? null;
    const result = await answer(request, options);
    options.write(JSON.stringify({ id, ok: true, ...result }));
    if (request['op'] === 'stop') options.stop();
  } catch (error) {
    const message = error instanceof SyntaxError ? `not JSON: ${error.message}` : error instanceof Error ? error.message : String(error);
    options.write(JSON.stringify({ id, ok: false, error: message }));
  }
}
