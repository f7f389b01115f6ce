/**
 * Skiff's side of a parity case: the YAML in a directory, read by the file source, through the
 * watcher, a translator and an ADS gateway sharing an in-memory store (the `skiff` all-in-one's
 * pipeline), then asked over ADS as each proxy, with the requests the istiod reference sends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue } from '@bufbuild/protobuf';
import { Gateway } from '@skiff/gateway';
import { silentLogger } from '@skiff/runtime';
import { createMemoryStore, type Store } from '@skiff/store';
import { Translator } from '@skiff/translator-core';
import { createConfigSource, Watcher } from '@skiff/watcher-core';
import { connectAds } from '@skiff/xds-conformance';
import type { MeshSettings } from '@skiff/xds-translate';
import type { ParityProxy } from './proxies.js';
import { queryAsProxy, type AdsRequester } from './query.js';
import type { ResourceKind } from './resources.js';

export interface SkiffCase {
  readonly name: string;
  readonly config: string;
  readonly proxies: readonly ParityProxy[];
}

export interface SkiffProxyResult {
  readonly name: string;
  readonly resources: Readonly<Record<ResourceKind, readonly JsonValue[]>>;
}

export interface SkiffRejection {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly error: string;
}

export interface SkiffCaseResult {
  readonly proxies: readonly SkiffProxyResult[];
  /** Objects the watcher rejected. */
  readonly rejected: readonly SkiffRejection[];
  /** Kinds the watcher reads (validates), by name: only their rejections can be compared. */
  readonly kindsRead: ReadonlySet<string>;
}

const CONVERGE_TIMEOUT_MS = 60_000;

/** Until every stored ServiceEntry has resources built from its current revision. */
async function translated(store: Store, watcher: Watcher): Promise<void> {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  for (;;) {
    const status = watcher.status();
    if (status.synced && status.converged && status.backlog === 0) {
      const keys = await store.serviceEntries.list();
      let done = true;
      for (const key of keys) {
        const [entry, owner] = await Promise.all([store.serviceEntries.read(key), store.resources.readOwner(key, [])]);
        if (entry !== null && (owner === null || owner.record.revision < entry.revision)) {
          done = false;
          break;
        }
      }
      if (done) return;
    }
    if (Date.now() > deadline) throw new Error(`Skiff did not translate the case within ${CONVERGE_TIMEOUT_MS} ms: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs the pipeline on one case and asks it as each proxy. */
export async function runSkiff(testCase: SkiffCase, mesh: MeshSettings): Promise<SkiffCaseResult> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-parity-'));
  const store = createMemoryStore();
  const logger = silentLogger();
  const closers: (() => Promise<void>)[] = [];
  try {
    await writeFile(join(dir, 'config.yaml'), testCase.config);
    const watcher = new Watcher({ source: await createConfigSource({ configDir: dir }, logger), store, logger, holder: 'parity-watcher' });
    // The reference reads its config from files, which carry no domain suffix: a short DestinationRule
    // host becomes `<host>.<namespace>` (`ResolveShortnameToFQDN`).
    const translator = new Translator({ store, consumer: 'parity-translator', logger, mesh, blockMs: 20, destinationRuleLookup: { domainSuffix: '' } });
    await translator.start();
    closers.push(() => translator.close());
    await watcher.start();
    closers.push(() => watcher.close());
    await translated(store, watcher);
    const gateway = new Gateway({ store, logger, replicaId: 'parity-gateway', xdsAddress: '127.0.0.1:0', debounceMs: 0, fleetHeartbeatMs: 60_000 });
    await gateway.start();
    closers.push(() => gateway.close());
    const address = gateway.xdsAddress;
    if (address === undefined) throw new Error('the gateway has no ADS address');
    const target = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    const results: SkiffProxyResult[] = [];
    for (const proxy of testCase.proxies) {
      const stream = await connectAds(target, {
        node: { id: proxy.id, metadata: proxy.metadata as never, locality: proxy.locality },
        responseTimeoutMs: 5_000,
      });
      try {
        const requester: AdsRequester = async (typeUrl, names) => {
          const response = await stream.requestResponseAck({ typeUrl, names });
          return response.names.map((name) => response.resources.get(name) ?? new Uint8Array());
        };
        results.push({ name: proxy.name, resources: await queryAsProxy(proxy, requester) });
      } finally {
        stream.close();
      }
    }
    const objects = watcher.state.objects();
    const rejected = objects.flatMap((status) =>
      status.rejection === null
        ? []
        : [{ kind: status.kind, namespace: status.namespace, name: status.name, error: status.rejection.errors.map((e) => `${e.field}: ${e.reason}`).join('; ') }],
    );
    return { proxies: results, rejected, kindsRead: new Set(objects.map((status) => status.kind)) };
  } finally {
    for (const close of closers.reverse()) await close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
