/**
 * The file source on a real file system, end to end: the all-in-one `skiff` watches a directory and a
 * raw ADS client (a sidecar subscribed to every cluster, ACKing each response) records every CDS
 * response it receives. Each way people and tools change files is played on the directory: `sed -i`
 * (an atomic rename save), symlinked files and directories, new subdirectories, a Kubernetes ConfigMap
 * volume swapping its `..data` symlink, a root directory replaced by another, a file truncated and
 * written again, a deleted file, broken YAML. A change must reach the client, and an object whose file
 * only passes through an empty or unparseable state must never be missing from any response.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TypeUrl } from '@skiff/protos';
import { eventually, freePort, writeConfigMapVolume } from '@skiff/testing';
import { connectAds, type SotwAdsStream } from '@skiff/xds-conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BINS, ServiceProcess } from './services.js';

const run = promisify(execFile);

/** How long a file that lost objects keeps them (`--config-hold`). */
const HOLD_MS = 1_000;

const serviceEntry = (name: string, ports: readonly number[] = [80]): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: demo}
spec:
  hosts: [${name}.example.com]
  ports: [${ports.map((port) => `{number: ${port}, name: http-${port}, protocol: HTTP}`).join(', ')}]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{address: 10.0.0.1}]
`;

/** Istio's outbound cluster name for a port of `<name>.example.com`. */
const cluster = (name: string, port = 80): string => `outbound|${port}||${name}.example.com`;

/** A sidecar subscribed to every cluster: every CDS response it received, in order, ACKed. */
class CdsRecorder {
  readonly responses: (readonly string[])[] = [];
  readonly errors: string[] = [];
  private closed = false;

  private constructor(private readonly stream: SotwAdsStream) {}

  static async connect(address: string): Promise<CdsRecorder> {
    const recorder = new CdsRecorder(await connectAds(address));
    recorder.stream.request({ typeUrl: TypeUrl.Cluster });
    void recorder.receive();
    return recorder;
  }

  private async receive(): Promise<void> {
    while (!this.closed) {
      try {
        const response = await this.stream.expectResponse({ typeUrl: TypeUrl.Cluster, timeoutMs: 1_000 });
        this.stream.ack(response);
        this.responses.push(response.names.filter((name) => name.endsWith('.example.com')).sort());
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (this.closed || message.includes('ended')) return;
        if (!message.startsWith('no response')) this.errors.push(message);
      }
    }
  }

  /** The clusters of the latest response. */
  latest(): readonly string[] {
    return this.responses.at(-1) ?? [];
  }

  /** Waits until the latest response holds exactly `clusters` among those of `names`. */
  async converge(names: readonly string[], clusters: readonly string[]): Promise<void> {
    const mine = (list: readonly string[]): string[] => list.filter((c) => names.some((name) => c.endsWith(`||${name}.example.com`))).sort();
    await eventually(() => expect(mine(this.latest())).toEqual([...clusters].sort()), { timeoutMs: 15_000, intervalMs: 50 });
    expect(this.errors).toEqual([]);
  }

  /** The responses from `from` on that lack `name`. */
  without(name: string, from: number): (readonly string[])[] {
    return this.responses.slice(from).filter((names) => !names.includes(name));
  }

  close(): void {
    this.closed = true;
    this.stream.close();
  }
}

/** `skiff` on `root` (no periodic rescan: what is tested is that the watches see every change) and a recording client. */
async function startSkiff(name: string, root: string): Promise<{ skiff: ServiceProcess; client: CdsRecorder }> {
  const xdsPort = await freePort();
  const skiff = await ServiceProcess.start(name, BINS.skiff, ['--config-dir', root, '--xds-addr', `127.0.0.1:${xdsPort}`, '--config-hold', `${HOLD_MS}ms`, '--config-rescan', '0']);
  return { skiff, client: await CdsRecorder.connect(`127.0.0.1:${xdsPort}`) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('skiff on a directory edited in place', () => {
  let dir: string;
  let root: string;
  let outside: string;
  let skiff: ServiceProcess;
  let client: CdsRecorder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-files-'));
    root = join(dir, 'config');
    outside = join(dir, 'elsewhere');
    await mkdir(root);
    await mkdir(join(outside, 'team'), { recursive: true });
    for (const name of ['sed', 'steady', 'broken', 'gone']) await writeFile(join(root, `${name}.yaml`), serviceEntry(name));
    await writeFile(join(outside, 'linked.yaml'), serviceEntry('linked'));
    await writeFile(join(outside, 'team', 'team.yaml'), serviceEntry('team'));
    await symlink(join(outside, 'linked.yaml'), join(root, 'linked.yaml'));
    await symlink(join(outside, 'team'), join(root, 'team'));
    ({ skiff, client } = await startSkiff('skiff-files', root));
    await client.converge(['sed', 'steady', 'broken', 'gone', 'linked', 'team'], ['sed', 'steady', 'broken', 'gone', 'linked', 'team'].map((name) => cluster(name)));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(() => expect(client.errors).toEqual([]));

  it('follows a file saved by sed -i (a rename) through later saves, its deletion and its re-creation', async () => {
    const file = join(root, 'sed.yaml');
    for (const [from, to] of [
      [80, 81],
      [81, 82],
      [82, 83],
    ] as const) {
      await run('sed', ['-i', `s/${from}/${to}/g`, file]);
      await client.converge(['sed'], [cluster('sed', to)]);
    }
    await rm(file);
    await client.converge(['sed'], []);
    await writeFile(join(root, '.sed.yaml.swp'), serviceEntry('sed', [84]));
    await rename(join(root, '.sed.yaml.swp'), file);
    await client.converge(['sed'], [cluster('sed', 84)]);
    // The lines come through the child's standard output, which can trail what it serves.
    await eventually(() => expect(skiff.output).toContain(`${file}: removed (1 object withdrawn)`));
    await eventually(() => expect(skiff.output).toContain(`${file}: applied (1 object)`));
  });

  it('follows a symlinked file and a symlinked directory, edited where they live', async () => {
    await run('sed', ['-i', 's/80/8080/g', join(outside, 'linked.yaml')]);
    await client.converge(['linked'], [cluster('linked', 8080)]);
    await writeFile(join(outside, 'team', 'team.yaml'), serviceEntry('team', [80, 81]));
    await client.converge(['team'], [cluster('team', 80), cluster('team', 81)]);
    await writeFile(join(outside, 'team', 'more.yaml'), serviceEntry('more'));
    await client.converge(['more'], [cluster('more')]);
  });

  it('follows a new subdirectory', async () => {
    await mkdir(join(root, 'new', 'deeper'), { recursive: true });
    await writeFile(join(root, 'new', 'deeper', 'fresh.yaml'), serviceEntry('fresh'));
    await client.converge(['fresh'], [cluster('fresh')]);
    await run('sed', ['-i', 's/80/81/g', join(root, 'new', 'deeper', 'fresh.yaml')]);
    await client.converge(['fresh'], [cluster('fresh', 81)]);
  });

  it('never withdraws the objects of a file truncated and written again 200 ms later', async () => {
    const file = join(root, 'steady.yaml');
    const from = client.responses.length;
    await truncate(file);
    await sleep(200);
    await writeFile(file, serviceEntry('steady', [80, 81]));
    await client.converge(['steady'], [cluster('steady', 80), cluster('steady', 81)]);
    await sleep(HOLD_MS + 500);
    expect(client.without(cluster('steady'), from)).toEqual([]);
    expect(client.latest()).toContain(cluster('steady'));
    expect(skiff.output).toContain(`${file}: held back: it is empty; keeping its 1 object until the file has stayed unchanged for ${HOLD_MS} ms`);
  });

  it('withdraws the objects of a deleted file', async () => {
    await rm(join(root, 'gone.yaml'));
    await client.converge(['gone'], []);
  });

  it('keeps the objects of a file while its YAML is broken, and applies the fix', async () => {
    const file = join(root, 'broken.yaml');
    const from = client.responses.length;
    await writeFile(file, 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: broken\n');
    await eventually(() => expect(skiff.output).toContain(`${file}: held back: it does not parse; keeping its 1 object until it parses again or is deleted`));
    await sleep(HOLD_MS + 500);
    await writeFile(file, serviceEntry('broken', [80, 81]));
    await client.converge(['broken'], [cluster('broken', 80), cluster('broken', 81)]);
    expect(client.without(cluster('broken'), from)).toEqual([]);
  });
});

describe('skiff on a mounted ConfigMap', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let client: CdsRecorder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-configmap-'));
    await writeConfigMapVolume(dir, { 'a.yaml': serviceEntry('cm-a'), 'b.yaml': serviceEntry('cm-b') });
    ({ skiff, client } = await startSkiff('skiff-configmap', dir));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the files of the volume, not its hidden ..data copies', async () => {
    await client.converge(['cm-a', 'cm-b', 'cm-c'], [cluster('cm-a'), cluster('cm-b')]);
    expect(skiff.output).not.toContain('is defined in');
    expect(skiff.output).not.toContain('..data');
  });

  it('follows each ..data swap: a changed key, a removed key, a new key', async () => {
    const from = client.responses.length;
    await writeConfigMapVolume(dir, { 'a.yaml': serviceEntry('cm-a', [80, 81]), 'c.yaml': serviceEntry('cm-c') });
    await client.converge(['cm-a', 'cm-b', 'cm-c'], [cluster('cm-a', 80), cluster('cm-a', 81), cluster('cm-c')]);
    await writeConfigMapVolume(dir, { 'a.yaml': serviceEntry('cm-a', [80, 82]), 'c.yaml': serviceEntry('cm-c') });
    await client.converge(['cm-a', 'cm-b', 'cm-c'], [cluster('cm-a', 80), cluster('cm-a', 82), cluster('cm-c')]);
    expect(client.without(cluster('cm-a'), from)).toEqual([]);
  });
});

describe('skiff on a root directory that is replaced', () => {
  let dir: string;
  let skiff: ServiceProcess;
  let client: CdsRecorder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-root-'));
    await mkdir(join(dir, 'config'));
    await writeFile(join(dir, 'config', 'a.yaml'), serviceEntry('root-a'));
    await writeFile(join(dir, 'config', 'b.yaml'), serviceEntry('root-b'));
    ({ skiff, client } = await startSkiff('skiff-root', join(dir, 'config')));
    await client.converge(['root-a', 'root-b'], [cluster('root-a'), cluster('root-b')]);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await skiff?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the new directory, keeps everything while none is there, and watches the new one', async () => {
    const from = client.responses.length;
    await mkdir(join(dir, 'config.new'));
    await writeFile(join(dir, 'config.new', 'a.yaml'), serviceEntry('root-a', [80, 81]));
    await rename(join(dir, 'config'), join(dir, 'config.old'));
    await eventually(() => expect(skiff.output).toContain('cannot be read (ENOENT); keeping the 2 objects of its 2 files until it is back'));
    await rename(join(dir, 'config.new'), join(dir, 'config'));
    await client.converge(['root-a', 'root-b'], [cluster('root-a', 80), cluster('root-a', 81)]);
    expect(client.without(cluster('root-a'), from)).toEqual([]);
    await writeFile(join(dir, 'config', 'c.yaml'), serviceEntry('root-c'));
    await client.converge(['root-c'], [cluster('root-c')]);
  });
});
