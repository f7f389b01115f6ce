/**
 * A raw ADS client for tests: it sends exactly the requests a test writes, in the style of Istio's
 * `pilot/pkg/xds` test helpers (`RequestResponseAck`, `ExpectResponse`, `ExpectNoResponse`), and
 * checks every response it receives against the invariants every xDS server must keep (a nonce,
 * the stream's type URL on every resource, no name twice). No xDS library, only `@grpc/grpc-js`
 * and protobuf-es, so it can drive any ADS server.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { NodeSchema } from '@skiff/protos/gen/envoy/config/core/v3/base_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { SecretSchema } from '@skiff/protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { AggregatedDiscoveryService } from '@skiff/protos/gen/envoy/service/discovery/v3/ads_pb.js';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';

export type NodeInit = MessageInitShape<typeof NodeSchema>;

/** The node a test client sends unless told otherwise: an Istio sidecar in namespace `default`. */
export const DEFAULT_TEST_NODE: NodeInit = {
  id: 'sidecar~127.0.0.1~conformance-client.default~default.svc.cluster.local',
  cluster: 'conformance',
  metadata: { NAMESPACE: 'default', CLUSTER_ID: 'Kubernetes' },
};

/** Default wait for an expected response. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 2_000;

/** gRPC status code the clients put in `error_detail` of a NACK (docs/grpc-proxyless.md#protocol). */
const UNAVAILABLE = 14;

export interface ConnectAdsOptions {
  /** Open `DeltaAggregatedResources` instead of `StreamAggregatedResources`. */
  readonly delta?: boolean;
  /** Sent on the first request unless that request says otherwise; `null` for none. Default `DEFAULT_TEST_NODE`. */
  readonly node?: NodeInit | null;
  /** Default insecure. */
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** Wait for the connection at most this long (ms). Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Default timeout of `expectResponse` (ms). */
  readonly responseTimeoutMs?: number;
}

/** How a stream ended. */
export interface StreamEnd {
  readonly code: number;
  readonly details: string;
}

/** The name of a resource as clients key it (`Cluster.name`, `ClusterLoadAssignment.cluster_name`, ...); undefined for other types. */
export function resourceNameOf(typeUrl: string, value: Uint8Array): string | undefined {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return fromBinary(ClusterSchema, value).name;
    case TypeUrl.ClusterLoadAssignment:
      return fromBinary(ClusterLoadAssignmentSchema, value).clusterName;
    case TypeUrl.Listener:
      return fromBinary(ListenerSchema, value).name;
    case TypeUrl.RouteConfiguration:
      return fromBinary(RouteConfigurationSchema, value).name;
    case TypeUrl.Secret:
      return fromBinary(SecretSchema, value).name;
    default:
      return undefined;
  }
}

/** A state-of-the-world response, checked and indexed by resource name. */
export interface SotwResponse {
  readonly message: DiscoveryResponse;
  readonly typeUrl: string;
  readonly versionInfo: string;
  readonly nonce: string;
  /** Resource names in response order (`#<index>` for types other than the five this client decodes). */
  readonly names: readonly string[];
  /** Serialized resource (the `Any` value) by name. */
  readonly resources: ReadonlyMap<string, Uint8Array>;
}

/** A delta response, checked and indexed by resource name. */
export interface DeltaResponse {
  readonly message: DeltaDiscoveryResponse;
  readonly typeUrl: string;
  readonly systemVersionInfo: string;
  readonly nonce: string;
  readonly names: readonly string[];
  readonly versions: ReadonlyMap<string, string>;
  readonly resources: ReadonlyMap<string, Uint8Array>;
  readonly removed: readonly string[];
}

/** A response that breaks a rule every server must keep; `expectResponse` rejects with it. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/** The name inside an `Any` of the response's type; undefined (and a problem noted) when it is not one. */
function decodedName(typeUrl: string, any: { readonly typeUrl: string; readonly value: Uint8Array }, index: number, problems: string[]): string | undefined {
  if (any.typeUrl !== typeUrl) return undefined;
  try {
    return resourceNameOf(typeUrl, any.value);
  } catch (error) {
    problems.push(`resources[${index}] is not a valid ${typeUrl}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function checkSotw(message: DiscoveryResponse): SotwResponse {
  const problems: string[] = [];
  if (message.nonce === '') problems.push('no nonce');
  if (message.typeUrl === '') problems.push('no type_url');
  const names: string[] = [];
  const resources = new Map<string, Uint8Array>();
  message.resources.forEach((any, index) => {
    if (any.typeUrl !== message.typeUrl) problems.push(`resources[${index}] has type ${any.typeUrl}, the response ${message.typeUrl}`);
    // Types the client cannot decode are keyed by position: their names are unknown here.
    const name = decodedName(message.typeUrl, any, index, problems) ?? `#${index}`;
    if (resources.has(name)) problems.push(`${name} appears twice`);
    names.push(name);
    // A plain Uint8Array (not the receive Buffer), so tests compare it with what they serialized.
    resources.set(name, new Uint8Array(any.value));
  });
  if (problems.length > 0) throw new ProtocolViolation(`DiscoveryResponse for ${message.typeUrl}: ${problems.join('; ')}`);
  return { message, typeUrl: message.typeUrl, versionInfo: message.versionInfo, nonce: message.nonce, names, resources };
}

function checkDelta(message: DeltaDiscoveryResponse): DeltaResponse {
  const problems: string[] = [];
  if (message.nonce === '') problems.push('no nonce');
  if (message.typeUrl === '') problems.push('no type_url');
  const names: string[] = [];
  const versions = new Map<string, string>();
  const resources = new Map<string, Uint8Array>();
  message.resources.forEach((resource, index) => {
    if (resource.name === '') problems.push(`resources[${index}] has no name`);
    if (versions.has(resource.name)) problems.push(`${resource.name} appears twice`);
    const any = resource.resource;
    if (any === undefined) problems.push(`resources[${index}] (${resource.name}) has no resource`);
    else {
      if (any.typeUrl !== message.typeUrl) problems.push(`resources[${index}] has type ${any.typeUrl}, the response ${message.typeUrl}`);
      const inner = decodedName(message.typeUrl, any, index, problems);
      if (inner !== undefined && inner !== resource.name) problems.push(`resources[${index}] is named ${resource.name} but holds ${inner}`);
      resources.set(resource.name, new Uint8Array(any.value));
    }
    names.push(resource.name);
    versions.set(resource.name, resource.version);
  });
  const removed = [...message.removedResources];
  if (new Set(removed).size !== removed.length) problems.push('removed_resources has a name twice');
  for (const name of removed) if (versions.has(name)) problems.push(`${name} is both sent and removed`);
  if (problems.length > 0) throw new ProtocolViolation(`DeltaDiscoveryResponse for ${message.typeUrl}: ${problems.join('; ')}`);
  return { message, typeUrl: message.typeUrl, systemVersionInfo: message.systemVersionInfo, nonce: message.nonce, names, versions, resources, removed };
}

const SERVICE_PATH = `/${AggregatedDiscoveryService.typeName}`;
const SOTW_PATH = `${SERVICE_PATH}/${AggregatedDiscoveryService.method.streamAggregatedResources.name}`;
const DELTA_PATH = `${SERVICE_PATH}/${AggregatedDiscoveryService.method.deltaAggregatedResources.name}`;

type Received<R> = { kind: 'response'; response: R } | { kind: 'violation'; error: ProtocolViolation };

/** What both stream kinds share: the receive queue, waits with timeouts, the end of the stream. */
abstract class AdsStreamBase<Request, Message, Response extends { readonly typeUrl: string; readonly names: readonly string[] }> {
  /** Resolves when the stream ends, with its status. */
  readonly ended: Promise<StreamEnd>;
  private readonly queue: Received<Response>[] = [];
  private waiter: (() => void) | undefined;
  private endStatus: StreamEnd | undefined;
  private sentNode = false;
  protected readonly call: grpc.ClientDuplexStream<Request, Message>;

  protected constructor(
    private readonly client: grpc.Client,
    call: grpc.ClientDuplexStream<Request, Message>,
    private readonly defaultNode: NodeInit | null,
    private readonly responseTimeoutMs: number,
    check: (message: Message) => Response,
  ) {
    this.call = call;
    call.on('data', (message: Message) => {
      try {
        this.queue.push({ kind: 'response', response: check(message) });
      } catch (error) {
        this.queue.push({ kind: 'violation', error: error as ProtocolViolation });
      }
      this.wake();
    });
    this.ended = new Promise<StreamEnd>((resolve) => {
      call.on('status', (status: grpc.StatusObject) => {
        this.endStatus = { code: status.code, details: status.details };
        resolve(this.endStatus);
        this.wake();
      });
    });
    // The status event reports the end; errors are the same end seen as an exception.
    call.on('error', () => {});
  }

  /** Responses received and not yet taken by `expectResponse`. */
  get pending(): number {
    return this.queue.length;
  }

  /** The node for the next request: the caller's, else the default one on the stream's first request. */
  protected nodeFor(node: NodeInit | null | undefined): MessageInitShape<typeof NodeSchema> | undefined {
    const first = !this.sentNode;
    this.sentNode = true;
    if (node === null) return undefined;
    if (node !== undefined) return node;
    return first && this.defaultNode !== null ? this.defaultNode : undefined;
  }

  protected send(request: Request): void {
    if (this.endStatus !== undefined) throw new Error(`the stream has ended (${this.endStatus.code} ${this.endStatus.details})`);
    this.call.write(request);
  }

  /**
   * The next response, which must be of `typeUrl` when given. Rejects after `timeoutMs`, when the
   * stream ends first, or when the response breaks a protocol invariant.
   */
  async expectResponse(options: { typeUrl?: string; timeoutMs?: number } = {}): Promise<Response> {
    const timeoutMs = options.timeoutMs ?? this.responseTimeoutMs;
    const received = await this.next(timeoutMs);
    if (received === undefined) {
      if (this.endStatus !== undefined) throw new Error(`the stream ended (${this.endStatus.code} ${this.endStatus.details}) before a response${forType(options.typeUrl)}`);
      throw new Error(`no response${forType(options.typeUrl)} within ${timeoutMs} ms`);
    }
    if (received.kind === 'violation') throw received.error;
    if (options.typeUrl !== undefined && received.response.typeUrl !== options.typeUrl) {
      throw new Error(`expected a response for ${options.typeUrl}, got one for ${received.response.typeUrl}`);
    }
    return received.response;
  }

  /** Fails if any response arrives within `ms` (or is already waiting). */
  async expectNoResponse(ms: number): Promise<void> {
    const received = await this.next(ms);
    if (received === undefined) return;
    if (received.kind === 'violation') throw received.error;
    throw new Error(`unexpected response for ${received.response.typeUrl}: ${describe(received.response)}`);
  }

  /** Every response that arrives within `ms` (or is already waiting), without failing on none. */
  async collect(ms: number): Promise<Response[]> {
    const responses: Response[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const received = await this.next(Math.max(0, deadline - Date.now()));
      if (received === undefined) return responses;
      if (received.kind === 'violation') throw received.error;
      responses.push(received.response);
    }
  }

  /** Waits for the stream to end, at most `timeoutMs`. */
  async expectEnd(timeoutMs: number = this.responseTimeoutMs): Promise<StreamEnd> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stream did not end within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking responses off the stream, like a proxy too busy to read: grpc-js stops reading the
   * HTTP/2 stream, so its flow-control window fills and the server's writes back up.
   */
  pauseReading(): void {
    this.call.pause();
  }

  resumeReading(): void {
    this.call.resume();
  }

  /** Half-closes the stream and closes the channel. */
  close(): void {
    this.call.end();
    this.call.cancel();
    this.client.close();
  }

  private async next(timeoutMs: number): Promise<Received<Response> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const head = this.queue.shift();
      if (head !== undefined) return head;
      const left = deadline - Date.now();
      if (left <= 0 || this.endStatus !== undefined) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  private wake(): void {
    this.waiter?.();
  }
}

function forType(typeUrl: string | undefined): string {
  return typeUrl === undefined ? '' : ` for ${typeUrl}`;
}

function describe(response: { readonly typeUrl: string; readonly names: readonly string[] }): string {
  const removed = 'removed' in response ? ` removed [${(response as DeltaResponse).removed.join(', ')}]` : '';
  return `[${response.names.join(', ')}]${removed}`;
}

export interface SotwRequestInit {
  readonly typeUrl: string;
  /** `resource_names`; default none. */
  readonly names?: readonly string[];
  readonly versionInfo?: string;
  readonly responseNonce?: string;
  /** Makes the request a NACK. */
  readonly errorDetail?: { readonly code?: number; readonly message: string };
  /** Overrides the node; `null` for none. */
  readonly node?: NodeInit | null;
}

/** A `StreamAggregatedResources` stream. */
export class SotwAdsStream extends AdsStreamBase<DiscoveryRequest, DiscoveryResponse, SotwResponse> {
  /** Per type, the names of the last request and the version of the last ACK, as a client keeps them. */
  private readonly lastNames = new Map<string, readonly string[]>();
  private readonly ackedVersions = new Map<string, string>();

  /** @internal Use `connectAds`. */
  constructor(client: grpc.Client, call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>, node: NodeInit | null, responseTimeoutMs: number) {
    super(client, call, node, responseTimeoutMs, checkSotw);
  }

  request(init: SotwRequestInit): void {
    const names = init.names ?? [];
    this.lastNames.set(init.typeUrl, names);
    const node = this.nodeFor(init.node);
    this.send(
      create(DiscoveryRequestSchema, {
        typeUrl: init.typeUrl,
        resourceNames: [...names],
        versionInfo: init.versionInfo ?? '',
        responseNonce: init.responseNonce ?? '',
        ...(node === undefined ? {} : { node }),
        ...(init.errorDetail === undefined ? {} : { errorDetail: { code: init.errorDetail.code ?? UNAVAILABLE, message: init.errorDetail.message } }),
      }),
    );
  }

  /** ACKs `response` with the type's current names (or `names`, changing the subscription in the same request). */
  ack(response: SotwResponse, names?: readonly string[]): void {
    this.ackedVersions.set(response.typeUrl, response.versionInfo);
    this.request({ typeUrl: response.typeUrl, names: names ?? this.lastNames.get(response.typeUrl) ?? [], versionInfo: response.versionInfo, responseNonce: response.nonce });
  }

  /** NACKs `response`: its nonce, the previously accepted version, and `error_detail`. */
  nack(response: SotwResponse, message: string): void {
    this.request({
      typeUrl: response.typeUrl,
      names: this.lastNames.get(response.typeUrl) ?? [],
      versionInfo: this.ackedVersions.get(response.typeUrl) ?? '',
      responseNonce: response.nonce,
      errorDetail: { message },
    });
  }

  /** Sends `init`, waits for the response of its type and ACKs it. */
  async requestResponseAck(init: SotwRequestInit): Promise<SotwResponse> {
    this.request(init);
    const response = await this.expectResponse({ typeUrl: init.typeUrl });
    this.ack(response);
    return response;
  }
}

export interface DeltaRequestInit {
  readonly typeUrl: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  /** Names and versions the client already holds (a reconnect). */
  readonly initialResourceVersions?: Readonly<Record<string, string>>;
  readonly responseNonce?: string;
  readonly errorDetail?: { readonly code?: number; readonly message: string };
  readonly node?: NodeInit | null;
}

/** A `DeltaAggregatedResources` stream. */
export class DeltaAdsStream extends AdsStreamBase<DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResponse> {
  /** @internal Use `connectAds`. */
  constructor(client: grpc.Client, call: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, node: NodeInit | null, responseTimeoutMs: number) {
    super(client, call, node, responseTimeoutMs, checkDelta);
  }

  request(init: DeltaRequestInit): void {
    const node = this.nodeFor(init.node);
    this.send(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: init.typeUrl,
        resourceNamesSubscribe: [...(init.subscribe ?? [])],
        resourceNamesUnsubscribe: [...(init.unsubscribe ?? [])],
        initialResourceVersions: { ...init.initialResourceVersions },
        responseNonce: init.responseNonce ?? '',
        ...(node === undefined ? {} : { node }),
        ...(init.errorDetail === undefined ? {} : { errorDetail: { code: init.errorDetail.code ?? UNAVAILABLE, message: init.errorDetail.message } }),
      }),
    );
  }

  ack(response: DeltaResponse): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DeltaResponse, message: string): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce, errorDetail: { message } });
  }

  /** Sends `init`, waits for the response of its type and ACKs it. */
  async requestResponseAck(init: DeltaRequestInit): Promise<DeltaResponse> {
    this.request(init);
    const response = await this.expectResponse({ typeUrl: init.typeUrl });
    this.ack(response);
    return response;
  }
}

/**
 * Opens an ADS stream to `target` (`127.0.0.1:15010`, or any gRPC target such as
 * `ipv4:127.0.0.1:1,127.0.0.1:2`) on a channel of its own, once the channel is connected.
 */
export function connectAds(target: string, options?: ConnectAdsOptions & { readonly delta?: false }): Promise<SotwAdsStream>;
export function connectAds(target: string, options: ConnectAdsOptions & { readonly delta: true }): Promise<DeltaAdsStream>;
export async function connectAds(target: string, options: ConnectAdsOptions = {}): Promise<SotwAdsStream | DeltaAdsStream> {
  const client = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + connectTimeoutMs, (error) => (error === undefined ? resolve() : reject(error)));
    });
  } catch (error) {
    client.close();
    throw new Error(`could not connect to ${target} within ${connectTimeoutMs} ms`, { cause: error });
  }
  const node = options.node === undefined ? DEFAULT_TEST_NODE : options.node;
  const responseTimeoutMs = options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
  if (options.delta === true) {
    const call = client.makeBidiStreamRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
      DELTA_PATH,
      (request) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, request)),
      (bytes) => fromBinary(DeltaDiscoveryResponseSchema, bytes),
    );
    return new DeltaAdsStream(client, call, node, responseTimeoutMs);
  }
  const call = client.makeBidiStreamRequest<DiscoveryRequest, DiscoveryResponse>(
    SOTW_PATH,
    (request) => Buffer.from(toBinary(DiscoveryRequestSchema, request)),
    (bytes) => fromBinary(DiscoveryResponseSchema, bytes),
  );
  return new SotwAdsStream(client, call, node, responseTimeoutMs);
}
