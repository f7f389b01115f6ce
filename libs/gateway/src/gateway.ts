/**
 * The ADS gateway: a resource cache filled from the store and kept fresh by invalidations, and the ADS
 * server that serves it, with istiod's metrics, the xDS debug types istioctl uses, and the fleet
 * report that lets any replica show every replica's proxies.
 */
import { create, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { anyPack, AnySchema } from '@bufbuild/protobuf/wkt';
import type { Meter, Tracer } from '@opentelemetry/api';
import { AdsRefusalError, AdsServer, GrpcStatus, shortTypeName, type AdsCallbacks, type AdsLimits, type BearerTokenAuthenticator, type AdsServerTls, type AdsSessionInfo, type AdsSessionStatus, type ServedResource } from '@skiff/ads-server';
import { ClientConfigSchema } from '@skiff/protos/gen/envoy/service/status/v3/csds_pb.js';
import { contextFromTraceparent, SKIFF_VERSION, type HostPort, type Logger, type RenderedDebug, type Runner } from '@skiff/runtime';
import type { FleetReport, GatewayStore, Store } from '@skiff/store';
import { GatewayCache, type VariantsOnRequest } from '@skiff/xds-cache';
import { buildConfigDump, type DumpType } from './config-dump.js';
import { DebugAuthorizer, debugCallerOf, type DebugAuthPolicy, type DebugDecision, type DebugScope } from './debug-auth.js';
import { istioXdsCallbacks } from './istio-metrics.js';
import { SecretServingProvider, type SecretAccessReviewer, type SecretSource } from './secret-provider.js';
import { clientConfigOf, isDebugClient, proxySyncStatus, type ProxySyncStatus } from './sync-status.js';
import { TypeUrl } from '@skiff/protos';

/** istiod's xDS debug type URLs (`pkg/model/xds.go`). */
/** istioctl's generic debug type: the resource name is the debug endpoint (`x internal-debug`). */
export const DEBUG_TYPE = 'istio.io/debug';
export const DEBUG_SYNCZ_TYPE = 'istio.io/debug/syncz';
export const DEBUG_CONFIG_DUMP_TYPE = 'istio.io/debug/config_dump';

export interface GatewayOptions {
  readonly store: GatewayStore & Partial<Pick<Store, 'epoch'>>;
  /** A sharded store's shards, each followed on its own by the cache (`GatewayCacheOptions.shards`). */
  readonly shards?: readonly (GatewayStore & Partial<Pick<Store, 'epoch'>>)[];
  readonly logger: Logger;
  readonly meter?: Meter;
  /**
   * Continues the trace a change carries (watcher write -> translator build -> invalidation): one
   * `gateway.apply` span per change the cache applied, before the pushes it causes.
   */
  readonly tracer?: Tracer;
  /** This replica's id (the pod name): shown per proxy in the fleet view and as `control_plane.identifier`. */
  readonly replicaId: string;
  /** Plaintext ADS address, `host:port` or `:port`. Default `:15010`. */
  readonly xdsAddress?: string;
  /** A second, TLS, ADS listener (istiod's 15012) serving the same cache. */
  readonly tls?: { readonly address: string; readonly credentials: AdsServerTls };
  readonly debounceMs?: number;
  /**
   * Serve no proxy (and report not ready) until this resolves and the cache has applied what the store
   * published by then (`GatewayCache.holdServingUntil`). The all-in-one passes its initial build.
   */
  readonly servesAfter?: Promise<void>;
  /** Variants the translator builds only once a proxy needs them, and how to ask (`GatewayCacheOptions.variantsOnRequest`). */
  readonly variantsOnRequest?: VariantsOnRequest;
  readonly maxConnectionAgeMs?: number;
  /** How often this replica publishes its proxies for the fleet view (default 5 s); reports live three periods. */
  readonly fleetHeartbeatMs?: number;
  /** Cache reconciliation period (default 30 s). */
  readonly checkIntervalMs?: number;
  /** The control plane version in `control_plane.identifier`; default Skiff's own (the root package.json's). */
  readonly version?: string;
  /** What one ADS client may cost (`AdsLimits`); istiod-like defaults. */
  readonly limits?: Partial<AdsLimits>;
  /** Bind client-certificate identities to nodes' namespaces on the TLS listener (default true). */
  readonly identityCheck?: boolean;
  /** Authenticates TLS clients without a certificate by their bearer token (`--xds-token-review`); needs `tls`. */
  readonly tokenAuthenticator?: BearerTokenAuthenticator;
  /** Who may read which proxy's debug information over ADS (`DebugAuthPolicy`). */
  readonly debugAuth?: Partial<DebugAuthPolicy>;
  /**
   * Serve `credentialName` Secrets over ADS (`--sds-secrets-from-kubernetes`): where they come from and
   * who may read them. Started and closed with the gateway; without it the Secret type is not served.
   */
  readonly secrets?: GatewaySecrets;
}

/** The Secret source and reviewer of `GatewayOptions.secrets`, with their lifecycle. */
export interface GatewaySecrets {
  readonly source: SecretSource & { start(): Promise<void>; close(): Promise<void> };
  readonly reviewer: SecretAccessReviewer;
}

/** Streams whose status one turn of the event loop puts in the fleet report. */
const FLEET_REPORT_SLICE = 500;
/** How often a heartbeat that waits for a fan-out to be written looks again (ms). */
const FLEET_REPORT_PUSH_POLL_MS = 10;

/** What the fleet report reads of a live session. */
interface AdsSessionStatusSource {
  readonly isClosed: boolean;
  /** Changes whenever the sync state `proxySyncStatus` reads from `status()` changes. */
  readonly syncRevision: number;
  status(): AdsSessionStatus;
}

/** A session's entry in the last fleet report: its JSON, or null for a debug client, as of `revision`. */
interface FleetReportEntry {
  readonly revision: number;
  readonly json: string | null;
}

/**
 * `prefix + entries.join(',') + suffix` as one flat string. Concatenating the joined entries would
 * make a string of two parts that V8 copies again into one before it can be written out: for a fleet
 * report of ten thousand proxies, another 10 MB per heartbeat.
 */
function joinedInOnePiece(prefix: string, entries: readonly string[], suffix: string): string {
  if (entries.length === 0) return prefix + suffix;
  const pieces = entries.slice();
  const last = pieces.length - 1;
  pieces[0] = prefix + pieces[0]!;
  pieces[last] = pieces[last]! + suffix;
  return pieces.join(',');
}

/** Another replica's report as read from the store: its revision (null: read every time) and its proxies. */
interface ParsedFleetReport {
  readonly revision: string | null;
  readonly proxies: readonly ProxySyncStatus[];
}

/** A replica's fleet report as published to the store. */
export interface FleetReplicaReport {
  readonly replica: string;
  /** When this content was published; a report kept alive unchanged (`FleetRegistry.refresh`) keeps its time. */
  readonly publishedAt: string;
  readonly proxies: readonly ProxySyncStatus[];
}

export class Gateway implements Runner {
  readonly name = 'gateway';
  readonly cache: GatewayCache;
  /** The plaintext ADS server. */
  readonly ads: AdsServer;
  /** Every ADS server: plaintext, and TLS when configured. */
  readonly servers: readonly AdsServer[];
  readonly replicaId: string;
  readonly debugAuthorizer: DebugAuthorizer;
  /** The Secret-serving provider when `secrets` is configured. */
  readonly secretServing: SecretServingProvider | undefined;
  private readonly options: GatewayOptions;
  private readonly logger: Logger;
  private fleetTimer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> = Promise.resolve();
  /** A heartbeat is waiting for pushes or publishing; the timer's next tick is skipped rather than queued. */
  private heartbeatInFlight = false;
  private closingFleet = false;
  private listening = false;
  /** Removes the `istio.io/debug` handlers (`serveDebugOverAds`). */
  private readonly debugOverAds: (() => void)[] = [];
  /** The other replicas' proxies as of the last heartbeat. */
  private otherReplicasProxies: ProxySyncStatus[] = [];
  /** Each live session's entry in the last fleet report; a session that ends takes its entry with it. */
  private readonly fleetReportEntries = new WeakMap<AdsSessionStatusSource, FleetReportEntry>();
  /** How many proxies the last fleet report held, and whether it reached the store. */
  private reportedProxies = 0;
  private fleetReportStored = false;
  /** The other replicas' reports as last read and parsed, by replica. */
  private otherReports = new Map<string, ParsedFleetReport>();

  constructor(options: GatewayOptions) {
    this.options = options;
    this.logger = options.logger;
    this.replicaId = options.replicaId;
    this.debugAuthorizer = new DebugAuthorizer(options.debugAuth);
    this.cache = new GatewayCache({
      store: options.store,
      ...(options.shards === undefined || options.shards.length <= 1 ? {} : { shards: options.shards }),
      logger: this.logger.child({ component: 'cache' }),
      ...(options.meter === undefined ? {} : { meter: options.meter }),
      ...(options.checkIntervalMs === undefined ? {} : { checkIntervalMs: options.checkIntervalMs }),
      ...(options.variantsOnRequest === undefined ? {} : { variantsOnRequest: options.variantsOnRequest }),
    });
    if (options.servesAfter !== undefined) this.cache.holdServingUntil(options.servesAfter);
    this.secretServing =
      options.secrets === undefined
        ? undefined
        : new SecretServingProvider(this.cache, {
            source: options.secrets.source,
            reviewer: options.secrets.reviewer,
            logger: this.logger.child({ component: 'sds' }),
            ...(options.meter === undefined ? {} : { meter: options.meter }),
          });
    const serverOptions = {
      provider: this.secretServing ?? this.cache,
      ...(this.secretServing === undefined ? {} : { servedTypeUrls: [TypeUrl.Secret] }),
      logger: this.logger.child({ component: 'ads' }),
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      ...(options.maxConnectionAgeMs === undefined ? {} : { maxConnectionAgeMs: options.maxConnectionAgeMs }),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.identityCheck === undefined ? {} : { identityCheck: options.identityCheck }),
      ...callbacksOf(options.meter === undefined ? undefined : istioXdsCallbacks(options.meter), this.secretServing),
      controlPlaneIdentifier: JSON.stringify({ Component: 'skiff', ID: options.replicaId, Info: { version: options.version ?? SKIFF_VERSION } }),
    };
    this.ads = new AdsServer({ ...serverOptions, address: options.xdsAddress ?? ':15010' });
    if (options.tokenAuthenticator !== undefined && options.tls === undefined) throw new Error('a token authenticator needs the TLS ADS listener');
    this.servers =
      options.tls === undefined
        ? [this.ads]
        : [
            this.ads,
            new AdsServer({
            ...serverOptions,
            address: options.tls.address,
            tls: options.tls.credentials,
            ...(options.tokenAuthenticator === undefined ? {} : { tokenAuthenticator: options.tokenAuthenticator }),
          }),
        ];
    options.meter
      ?.createObservableGauge('pilot_services', { description: 'Total services known to pilot (ServiceEntry hosts served by this replica)' })
      .addCallback((result) => result.observe(this.cache.records().reduce((count, record) => count + record.hosts.length, 0)));
    const tracer = options.tracer;
    const invalidationLag = options.meter?.createHistogram('skiff_gateway_invalidation_lag_seconds', {
      description: 'From an invalidation reaching the gateway to its resources being read and applied to the cache (pushes follow)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5] },
    });
    if (tracer !== undefined || invalidationLag !== undefined) {
      this.cache.onChange((changes) => {
        const now = performance.now();
        for (const change of changes) {
          if (change.since !== undefined) invalidationLag?.record(Math.max(now - change.since, 0) / 1000, { type: shortTypeName(change.typeUrl) });
          if (change.trace === undefined || tracer === undefined) continue;
          const parent = contextFromTraceparent(change.trace);
          tracer.startSpan('gateway.apply', { attributes: { 'xds.type_url': change.typeUrl, 'skiff.resources': change.names.length, 'skiff.replica': this.replicaId } }, parent).end();
        }
      });
    }
    for (const server of this.servers) {
      server.registerTypeHandler(DEBUG_SYNCZ_TYPE, (session) => this.syncClientConfigs(this.debugScopeOf(session)));
      server.registerTypeHandler(DEBUG_CONFIG_DUMP_TYPE, (session, request) => this.configDumpResources(this.debugScopeOf(session), request.resourceNames));
    }
  }

  /** Loads the store into the cache (the gateway is ready only after that), then serves ADS. */
  async start(signal?: AbortSignal): Promise<void> {
    await this.cache.start(signal);
    // The first list of Secrets completes in the background; the gateway is ready after it.
    await this.options.secrets?.source.start();
    for (const server of this.servers) await server.listen();
    this.listening = true;
    const period = this.options.fleetHeartbeatMs ?? 5_000;
    this.fleetTimer = setInterval(() => {
      if (this.heartbeatInFlight) return;
      this.heartbeatInFlight = true;
      this.publishing = this.publishing
        .then(() => this.pushesWritten(period / 2))
        .then(() => this.publishFleetReport(period * 3))
        .finally(() => (this.heartbeatInFlight = false));
    }, period);
    this.publishing = this.publishFleetReport(period * 3);
  }

  /**
   * Resolves once no ADS server has a push left to write, or after `maxWaitMs`. A heartbeat during a
   * fan-out rebuilds every proxy's report entry (each proxy's sync state just changed), about 20 us
   * per proxy, in slices between the fan-out's own: with ten thousand proxies on the changed cluster
   * the pushes it ran between went out that much later, and its garbage piled on theirs
   * (docs/BENCHMARKS.md). Waiting half a period at most keeps a report published under constant
   * churn at least once a period, well inside its three-period lifetime.
   */
  private async pushesWritten(maxWaitMs: number): Promise<void> {
    const deadline = performance.now() + maxWaitMs;
    while (!this.closingFleet && performance.now() < deadline && this.servers.some((server) => server.pushesPending > 0)) {
      await new Promise<void>((resolve) => setTimeout(resolve, FLEET_REPORT_PUSH_POLL_MS));
    }
  }

  /** Stops accepting streams and sends GOAWAY (proxies reconnect elsewhere), then leaves the fleet. */
  async close(): Promise<void> {
    this.closingFleet = true;
    if (this.fleetTimer) clearInterval(this.fleetTimer);
    await this.publishing;
    await Promise.all(this.servers.map((server) => server.close()));
    try {
      await this.options.store.fleet.remove(this.replicaId);
    } catch (error) {
      this.logger.debug({ err: String(error) }, 'could not remove the fleet report; it expires on its own');
    }
    await this.cache.close();
    this.secretServing?.close();
    await this.options.secrets?.source.close();
  }

  isReady(): boolean {
    return this.listening && (this.secretServing ?? this.cache).isReady();
  }

  get xdsAddress(): HostPort | undefined {
    return this.ads.address;
  }

  /**
   * The sync state of the proxies connected to this replica. Debug clients (istioctl, skiffctl: streams
   * that asked only for `istio.io/debug` types) are not proxies and are left out, as istiod leaves out
   * connections without proxy metadata (`pilot/pkg/xds/statusgen.go` `debugSyncz`).
   */
  localProxies(): ProxySyncStatus[] {
    return this.sessions()
      .filter((status) => !isDebugClient(status))
      .map((status) => proxySyncStatus(status, this.replicaId));
  }

  /**
   * Each live proxy's entry of the fleet report (`localProxies()` as JSON), built `FLEET_REPORT_SLICE`
   * streams per turn of the event loop: with ten thousand streams the report in one piece (every
   * stream's status, then one 10 MB `JSON.stringify`) held the loop for about 230 ms every heartbeat,
   * and a push that met it waited that long (docs/BENCHMARKS.md). Streams that close meanwhile are
   * left out. A stream whose sync state did not change since the last report (`syncRevision`) gives
   * its kept entry again; `changed` says whether any entry differs from the last report's.
   */
  private async localProxyEntries(): Promise<{ readonly entries: string[]; readonly changed: boolean }> {
    const sessions: AdsSessionStatusSource[] = [];
    for (const server of this.servers) for (const session of server.sessions.values()) sessions.push(session);
    const entries: string[] = [];
    let changed = false;
    let reported = 0;
    for (let start = 0; start < sessions.length; start += FLEET_REPORT_SLICE) {
      if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      for (const session of sessions.slice(start, start + FLEET_REPORT_SLICE)) {
        if (session.isClosed) continue;
        const revision = session.syncRevision;
        let kept = this.fleetReportEntries.get(session);
        if (kept === undefined || kept.revision !== revision) {
          const status = session.status();
          kept = { revision, json: isDebugClient(status) ? null : JSON.stringify(proxySyncStatus(status, this.replicaId)) };
          this.fleetReportEntries.set(session, kept);
          changed = true;
        }
        if (kept.json === null) continue;
        entries.push(kept.json);
        reported += 1;
      }
    }
    // A stream that ended leaves no entry to compare: the count tells.
    if (reported !== this.reportedProxies) changed = true;
    this.reportedProxies = reported;
    return { entries, changed };
  }

  /** Every stream connected to this replica, on any of its ADS servers. */
  sessions(): AdsSessionStatus[] {
    return this.servers.flatMap((server) => server.sessions.list());
  }

  /**
   * Every replica's proxies: this replica's live state plus the others' last reports (a replica that
   * died drops out when its report expires). Falls back to this replica alone when the store is down.
   */
  async fleetProxies(): Promise<ProxySyncStatus[]> {
    const others = await this.otherReplicasReports();
    return [...this.localProxies(), ...others].sort(byNodeIdThenGateway);
  }

  /**
   * The proxies in the other replicas' last reports; none when the store is down. A report is read
   * and parsed once per revision: the store leaves out the text of the reports whose revision this
   * replica holds (a replica whose proxies did not change keeps its report alive without rewriting
   * it), and their proxies are those parsed before. Any change also renews `otherReplicasProxies`.
   */
  private async otherReplicasReports(): Promise<ProxySyncStatus[]> {
    let reports: FleetReport[] = [];
    const known = new Map<string, string>();
    for (const [replica, { revision }] of this.otherReports) if (revision !== null) known.set(replica, revision);
    try {
      reports = await this.options.store.fleet.list(this.replicaId, known);
    } catch (error) {
      this.logger.debug({ err: String(error) }, 'fleet reports unavailable; showing this replica only');
    }
    const parsed = new Map<string, ParsedFleetReport>();
    let changed = false;
    for (const { replica, revision, report } of reports) {
      const kept = this.otherReports.get(replica);
      if (report === null) {
        // Listed without its text only for a revision passed in `known`, which came from `otherReports`.
        if (kept !== undefined) parsed.set(replica, kept);
        continue;
      }
      changed = true;
      let proxies: readonly ProxySyncStatus[] = [];
      try {
        proxies = (JSON.parse(report) as FleetReplicaReport).proxies;
      } catch {
        // A report that does not parse shows no proxies.
      }
      parsed.set(replica, { revision, proxies });
    }
    // A replica that left the fleet changes the list too.
    if (parsed.size !== this.otherReports.size) changed = true;
    this.otherReports = parsed;
    const proxies = [...parsed.values()].flatMap((entry) => entry.proxies);
    if (changed) this.otherReplicasProxies = proxies.filter((proxy) => proxy.gateway !== this.replicaId).sort(byNodeIdThenGateway);
    return proxies;
  }

  /** The session of a proxy on this replica, by istiod's proxy ID (`pod.namespace`) or full node id. */
  findSession(proxyId: string): AdsSessionStatus | undefined {
    const sessions = this.sessions();
    const matches = sessions.filter((status) => status.node.id === proxyId || proxySyncStatus(status, this.replicaId).proxy === proxyId);
    // While a proxy reconnects it may have two streams; the newest one is the live one.
    return matches.sort((a, b) => b.connectedAt - a.connectedAt)[0];
  }

  /** The config dump of a proxy on this replica, or undefined when it is not connected here. */
  configDump(proxyId: string, types: ReadonlySet<DumpType>) {
    const status = this.findSession(proxyId);
    if (status === undefined || status.profile === undefined) return undefined;
    return buildConfigDump(this.cache.viewFor(status.profile), status, types);
  }

  /**
   * istiod's debug authorization for a request on an ADS stream: may the stream's caller use the debug
   * `endpoint` (`syncz`, `config_dump`, `edsz`, ...), about the proxy `proxyId` when given (`pod.namespace`
   * or a node id; its namespace comes from its stream on this replica, or from the proxy id)? For the
   * generic `istio.io/debug` type: end the stream with `decision.error` when not allowed.
   */
  authorizeDebugRequest(session: AdsSessionInfo, endpoint: string, proxyId?: string): DebugDecision {
    let proxyNamespace: string | undefined;
    if (proxyId !== undefined) {
      const status = this.findSession(proxyId);
      proxyNamespace = status?.profile?.namespace ?? proxyId.slice(proxyId.lastIndexOf('.') + 1);
    }
    return this.debugAuthorizer.authorizeDebugRequest(debugCallerOf(session), { endpoint, proxyNamespace });
  }

  /**
   * Answers istioctl's `istio.io/debug` requests (`istioctl x internal-debug <endpoint>`): the one
   * resource name is a debug endpoint with its query (`syncz`, `config_dump?proxyID=...`), answered
   * by `render` with what `/debug/<name>` answers over HTTP, as one resource of type `istio.io/debug`
   * (`pilot/pkg/xds/debuggen.go`). The caller is authorized as istiod's debug generator does;
   * exactly one name is required (InvalidArgument otherwise).
   */
  serveDebugOverAds(render: (pathAndQuery: string) => Promise<RenderedDebug>): void {
    // The latest monitoring server answers (a gateway registered on a second one answers from that).
    for (const unregister of this.debugOverAds.splice(0)) unregister();
    for (const server of this.servers) {
      const unregister = server.registerTypeHandler(DEBUG_TYPE, async (session, request) => {
        if (request.resourceNames.length !== 1) throw new AdsRefusalError(GrpcStatus.INVALID_ARGUMENT, 'exactly one debug request is required', 'debug_request');
        const name = request.resourceNames[0] as string;
        const url = new URL(`/debug/${name}`, 'http://debug.invalid');
        const endpoint = url.pathname.slice('/debug/'.length);
        const decision = this.authorizeDebugRequest(session, endpoint, url.searchParams.get('proxyID') ?? undefined);
        if (!decision.allowed) throw decision.error;
        const rendered = await render(`/debug/${name}`);
        const value = typeof rendered.body === 'string' ? new TextEncoder().encode(rendered.body) : rendered.body;
        const any = create(AnySchema, { typeUrl: DEBUG_TYPE, value });
        return [{ name, version: '', bytes: value, anyBytes: toBinary(AnySchema, any) }];
      });
      this.debugOverAds.push(unregister);
    }
  }

  /** The scope of a debug stream's caller; throws the refusal that ends the stream (UNAUTHENTICATED). */
  private debugScopeOf(session: AdsSessionInfo): DebugScope {
    const scope = this.debugAuthorizer.scopeOf(debugCallerOf(session));
    if (scope instanceof AdsRefusalError) {
      this.logger.warn({ session: session.id, peer: session.peer, node: session.node.id }, 'debug request without an authenticated identity refused; connect over the mTLS port');
      throw scope;
    }
    return scope;
  }

  /**
   * Publishes this replica's proxies and takes in the other replicas' (for the synchronous xDS syncz).
   * When no proxy's sync state changed since the last report was stored, the stored report is kept
   * alive instead of sent again: with ten thousand streams each report is about 10 MB of strings, and
   * building and sending one every heartbeat cost the gateway a full garbage collection every other
   * heartbeat (docs/BENCHMARKS.md).
   */
  private async publishFleetReport(ttlMs: number): Promise<void> {
    const { entries, changed } = await this.localProxyEntries();
    try {
      const kept = !changed && this.fleetReportStored && (await this.options.store.fleet.refresh(this.replicaId, ttlMs));
      if (!kept) {
        const header: Omit<FleetReplicaReport, 'proxies'> = { replica: this.replicaId, publishedAt: new Date().toISOString() };
        // The `FleetReplicaReport` JSON, with the proxies' entries spliced into its array.
        await this.options.store.fleet.publish(this.replicaId, joinedInOnePiece(`${JSON.stringify(header).slice(0, -1)},"proxies":[`, entries, ']}'), ttlMs);
      }
      this.fleetReportStored = true;
    } catch (error) {
      this.fleetReportStored = false;
      this.logger.debug({ err: String(error) }, 'could not publish the fleet report');
    }
    // Only the other replicas' reports (which renews `otherReplicasProxies`): this replica's proxies
    // were just computed for the report, and computing and sorting them again here (as `fleetProxies`
    // does) doubled the cost of a heartbeat, which with ten thousand streams held the event loop long
    // enough to delay pushes.
    await this.otherReplicasReports();
  }

  /**
   * `istio.io/debug/syncz`: one `ClientConfig` per proxy of the fleet, named by node id: this
   * replica's live state plus the other replicas' reports as of the last heartbeat.
   */
  private syncClientConfigs(scope: DebugScope): ServedResource[] {
    // Resources are named by istiod's proxy ID, and a name appears once per response: a proxy that
    // moved replicas shows as its newest stream until the old replica's report expires.
    const newest = new Map<string, ProxySyncStatus>();
    for (const proxy of [...this.localProxies(), ...this.otherReplicasProxies]) {
      // A caller outside the system namespace sees its own namespace's proxies only (istiod's `debugSyncz`).
      if (scope.kind === 'namespace' && proxy.namespace !== scope.namespace) continue;
      const seen = newest.get(proxy.proxy);
      if (seen === undefined || proxy.connected_at > seen.connected_at) newest.set(proxy.proxy, proxy);
    }
    return [...newest.values()].map((proxy) => packed(proxy.proxy, ClientConfigSchema, clientConfigOf(proxy)));
  }

  /**
   * `istio.io/debug/config_dump` with one name `<pod>.<namespace>` (or a node id): that proxy's dump,
   * one resource per config (clusters, listeners, routes, endpoints), as istiod answers
   * (`model.AnyToUnnamedResources(dump.Configs)` in `pilot/pkg/xds/statusgen.go`) and as istioctl's
   * `proxy-status <pod>` reads it back into `ConfigDump.configs`. No resources when the proxy is not
   * connected here.
   */
  private configDumpResources(scope: DebugScope, names: readonly string[]): ServedResource[] {
    if (names.length !== 1) return [];
    const proxyId = names[0] as string;
    // Another namespace's proxy is "not found" for a namespace-scoped caller, as istiod answers.
    if (scope.kind === 'namespace' && this.findSession(proxyId)?.profile?.namespace !== scope.namespace) return [];
    const dump = this.configDump(proxyId, new Set<DumpType>(['cds', 'lds', 'rds', 'eds']));
    if (dump === undefined) return [];
    // Unnamed on the wire; the config's type URL keeps them apart inside the server.
    return dump.configs.map((config) => ({ name: config.typeUrl, version: '', bytes: config.value, anyBytes: toBinary(AnySchema, config) }));
  }
}

/**
 * The ADS callbacks: istiod's metrics, and with Secrets served, the review of a verified identity
 * started as soon as its stream is identified, so its first Secret request finds the answer.
 */
function callbacksOf(metrics: AdsCallbacks | undefined, secrets: SecretServingProvider | undefined): { callbacks?: AdsCallbacks } {
  if (secrets === undefined) return metrics === undefined ? {} : { callbacks: metrics };
  return {
    callbacks: {
      ...metrics,
      onStreamIdentified(session) {
        metrics?.onStreamIdentified?.(session);
        secrets.prepare(session.verifiedIdentity);
      },
    },
  };
}

/** The fleet view's order: by node id, then by replica (a proxy that moved shows on both until a report expires). */
function byNodeIdThenGateway(a: ProxySyncStatus, b: ProxySyncStatus): number {
  return a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : a.gateway < b.gateway ? -1 : 1;
}

/** A debug resource: the message and its `Any`, encoded once. */
function packed<Desc extends DescMessage>(name: string, schema: Desc, message: MessageShape<Desc>): ServedResource {
  return { name, version: '', bytes: toBinary(schema, message), anyBytes: toBinary(AnySchema, anyPack(schema, message)) };
}
