/**
 * A local Redis Cluster of the test's own: three masters with one replica each on free ports of
 * 127.0.0.1, created with `redis-cli --cluster create`, without persistence, torn down with `stop`.
 * Tests that need Redis Cluster semantics (slots, MOVED redirects, a master failover) start one;
 * the node timeout is short so a killed master's replica takes over within a few seconds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './wait.js';

/** How long a node may be unreachable before the cluster marks it failed (and its replica takes over). */
const NODE_TIMEOUT_MS = 1000;

interface ClusterNode {
  readonly port: number;
  readonly busPort: number;
  process: ChildProcess | null;
}

/** One line of `CLUSTER NODES`: who a node is, its role and, for a master, its slot ranges. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** The master's id, for a replica. */
  readonly masterId: string | null;
  readonly failed: boolean;
  readonly slots: readonly string[];
}

async function untilTrue(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not answering yet: keep polling until the deadline.
    }
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A client on one node that fails fast instead of retrying (for polling and administration). */
function nodeClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 2000, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

async function onNode<T>(port: number, body: (client: Redis) => Promise<T>): Promise<T> {
  const client = nodeClient(port);
  try {
    await client.connect();
    return await body(client);
  } finally {
    client.disconnect();
  }
}

export class LocalRedisCluster {
  private readonly dir = mkdtempSync(join(tmpdir(), 'skiff-redis-cluster-'));

  private constructor(private readonly nodes: readonly ClusterNode[]) {}

  /** Starts six nodes and joins them into three masters with one replica each; fails clearly without redis-server/redis-cli. */
  static async start(): Promise<LocalRedisCluster> {
    for (const tool of ['redis-server', 'redis-cli']) {
      const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
      if (probe.error !== undefined || probe.status !== 0) {
        throw new Error(`${tool} is not installed: the Redis Cluster tests start their own cluster (apt-get install redis-server redis-tools)`, { cause: probe.error });
      }
    }
    const nodes: ClusterNode[] = [];
    const taken = new Set<number>();
    while (nodes.length < 6) {
      const port = await freePort();
      const busPort = await freePort();
      if (taken.has(port) || taken.has(busPort) || port === busPort) continue;
      taken.add(port);
      taken.add(busPort);
      nodes.push({ port, busPort, process: null });
    }
    const cluster = new LocalRedisCluster(nodes);
    try {
      for (const node of nodes) cluster.launch(node);
      for (const node of nodes) await untilTrue(`node ${node.port} did not answer`, 10_000, () => onNode(node.port, async (c) => (await c.ping()) === 'PONG'));
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
      await cluster.waitHealthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Seed addresses `127.0.0.1:<port>` of every node, as a cluster client takes them. */
  get seeds(): string[] {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`);
  }

  private launch(node: ClusterNode): void {
    const args = [
      '--port', String(node.port),
      '--cluster-port', String(node.busPort),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(this.dir, `nodes-${node.port}.conf`),
      '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      // A replica takes over however long it was cut off from its master (the test kills masters on purpose).
      '--cluster-replica-validity-factor', '0',
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
    ];
    node.process = spawn('redis-server', args, { stdio: 'ignore' });
  }

  /** `CLUSTER NODES` as one live node sees it. */
  async topology(): Promise<ClusterNodeInfo[]> {
    const live = this.nodes.find((n) => n.process !== null && n.process.exitCode === null);
    if (live === undefined) throw new Error('Redis Cluster: no node is running');
    const text = await onNode(live.port, (c) => c.call('CLUSTER', 'NODES') as Promise<string>);
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
        const port = Number(address.split('@')[0]?.split(':')[1]);
        const flagList = flags.split(',');
        return {
          id,
          port,
          role: flagList.includes('master') ? 'master' : 'replica',
          masterId: master === '-' ? null : master,
          failed: flagList.includes('fail') || flagList.includes('fail?'),
          slots,
        };
      });
  }

  /** Ports of the masters that serve slots, in slot order. */
  async masterPorts(): Promise<number[]> {
    const masters = (await this.topology()).filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0);
    return masters.sort((a, b) => Number(a.slots[0]?.split('-')[0]) - Number(b.slots[0]?.split('-')[0])).map((n) => n.port);
  }

  /** The master serving `slot`. */
  async masterOfSlot(slot: number): Promise<number> {
    for (const node of await this.topology()) {
      if (node.role !== 'master' || node.failed) continue;
      for (const range of node.slots) {
        const [from, to = from] = range.split('-').map(Number);
        if (from !== undefined && to !== undefined && slot >= from && slot <= to) return node.port;
      }
    }
    throw new Error(`Redis Cluster: no live master serves slot ${slot}`);
  }

  /** The master serving `key`'s slot (the server computes the slot: `CLUSTER KEYSLOT`). */
  async masterOfKey(key: string): Promise<number> {
    const live = this.nodes.find((n) => n.process !== null && n.process.exitCode === null);
    if (live === undefined) throw new Error('Redis Cluster: no node is running');
    const slot = await onNode(live.port, (c) => c.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
    return this.masterOfSlot(Number(slot));
  }

  /** Every slot served, every node agreeing the cluster is ok, and every replica in sync with its master. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const running = () => this.nodes.filter((n) => n.process !== null && n.process.exitCode === null);
    await untilTrue('the cluster did not become healthy', timeoutMs, async () => {
      for (const node of running()) {
        const info = await onNode(node.port, (c) => c.call('CLUSTER', 'INFO') as Promise<string>);
        if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
        const replication = await onNode(node.port, (c) => c.info('replication'));
        if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
      }
      const topology = await this.topology();
      const masters = topology.filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0);
      this.before = new Set(masters.map((m) => m.port));
      return masters.length === 3;
    });
  }

  /** SIGKILLs the node on `port` (no shutdown, no goodbye); its replica takes over after the node timeout. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    const child = node?.process ?? null;
    if (node === undefined || child === null) throw new Error(`Redis Cluster: no running node on port ${port}`);
    node.process = null;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** The port of a replica of the master on `port`. */
  async replicaOf(port: number): Promise<number> {
    const topology = await this.topology();
    const master = topology.find((n) => n.port === port);
    const replica = topology.find((n) => master !== undefined && n.masterId === master.id && !n.failed);
    if (replica === undefined) throw new Error(`Redis Cluster: the node on ${port} has no live replica`);
    return replica.port;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the node on `port`: a stopped process holds its connections but answers nothing. */
  freeze(port: number, frozen: boolean): void {
    const child = this.nodes.find((n) => n.port === port)?.process;
    if (child === null || child === undefined) throw new Error(`Redis Cluster: no running node on port ${port}`);
    child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Waits until a replica was promoted in place of the killed master on `port` and every live master says the cluster is ok; returns the promoted node's port. */
  async waitFailover(port: number, timeoutMs = 60_000): Promise<number> {
    let promoted = 0;
    await untilTrue(`no replica took over from ${port}`, timeoutMs, async () => {
      const topology = await this.topology();
      const dead = topology.find((n) => n.port === port);
      const masters = topology.filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0);
      if (dead === undefined || !dead.failed || masters.length !== 3 || masters.some((m) => m.port === port)) return false;
      for (const master of masters) {
        const info = await onNode(master.port, (c) => c.call('CLUSTER', 'INFO') as Promise<string>);
        if (!info.includes('cluster_state:ok')) return false;
      }
      promoted = masters.find((m) => !this.before.has(m.port))?.port ?? 0;
      return promoted !== 0;
    });
    return promoted;
  }

  /** The masters when the cluster last became healthy, so `waitFailover` can name the promoted replica. */
  private before = new Set<number>();

  /** Empties every master (a store that lost all its data); replicas follow. */
  async flushAll(): Promise<void> {
    for (const port of await this.masterPorts()) await onNode(port, (c) => c.flushall());
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        if (node.process !== null) await this.kill(node.port);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
