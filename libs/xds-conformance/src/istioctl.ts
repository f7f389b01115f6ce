/**
 * The one xDS request `istioctl` sends to read a control plane's debug state (`proxy-status`,
 * `proxy-status <pod>`, `x internal-debug`), byte for byte: its ADS client (`pkg/adsc/adsc.go`) as
 * `istioctl/pkg/xds/client.go` `GetXdsResponse` configures it for `--xds-address ... --plaintext`.
 * A new stream, one `DiscoveryRequest` carrying the node, no ACK of the answer (adsc skips ACKs for
 * `istio.io/debug` types). Debug responses hold resources whose type differs from the request's
 * (`ClientConfig` for `istio.io/debug/syncz`), so this client does not apply the per-type checks of
 * `connectAds`.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryService } from '@skiff/protos/gen/envoy/service/discovery/v3/ads_pb.js';
import { ClientConfigSchema, type ClientConfig } from '@skiff/protos/gen/envoy/service/status/v3/csds_pb.js';
import { DiscoveryRequestSchema, DiscoveryResponseSchema, type DiscoveryRequest, type DiscoveryResponse } from '@skiff/protos/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { NodeInit } from './client.js';

/**
 * The node istioctl sends: adsc's `nodeID` is `<type>~<ip>~<workload>.<ns>~<ns>.svc.cluster.local`
 * with type `sidecar`, workload `test-1`, the first private IP of the machine, and ns = the Istio
 * namespace (`istio-system`); the metadata is what `GetXdsResponse` sets (GENERATOR=event,
 * SERVICE_ACCOUNT=default, NAMESPACE) plus the ISTIO_VERSION adsc's `buildNode` adds. No cluster, no
 * locality.
 */
export const ISTIOCTL_NODE: NodeInit = {
  id: 'sidecar~10.88.0.7~test-1.istio-system~istio-system.svc.cluster.local',
  metadata: { GENERATOR: 'event', SERVICE_ACCOUNT: 'default', NAMESPACE: 'istio-system', ISTIO_VERSION: '65536.65536.65536' },
};

/** adsc's `Send` sets `response_nonce` to Go's `time.Now().String()` on every request, even the first. */
function goTimeString(now: Date): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000000 +0000 UTC m=+0.012345678`;
}

export interface IstioctlRequestOptions {
  /** `resource_names`: none for syncz, `<pod>.<namespace>` for config_dump. */
  readonly names?: readonly string[];
  /** istioctl's `--timeout` (default 30 s); here the whole exchange. Default 5 s. */
  readonly timeoutMs?: number;
  /** Default plaintext (`--plaintext`); TLS credentials with a client certificate for the mTLS port. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Default `ISTIOCTL_NODE` (a caller in `istio-system`). */
  readonly node?: NodeInit;
}

/** Sends istioctl's request for `typeUrl` (for example `istio.io/debug/syncz`) and resolves with the first response of that type. */
export async function istioctlDebugRequest(target: string, typeUrl: string, options: IstioctlRequestOptions = {}): Promise<DiscoveryResponse> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const client = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const path = `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.streamAggregatedResources.name}`;
  const call = client.makeBidiStreamRequest<DiscoveryRequest, DiscoveryResponse>(
    path,
    (request) => Buffer.from(toBinary(DiscoveryRequestSchema, request)),
    (bytes) => fromBinary(DiscoveryResponseSchema, bytes),
    new grpc.Metadata(),
    { deadline: Date.now() + timeoutMs },
  );
  try {
    return await new Promise<DiscoveryResponse>((resolve, reject) => {
      call.on('data', (response: DiscoveryResponse) => {
        if (response.typeUrl === typeUrl) resolve(response);
      });
      call.on('error', (error: Error) => reject(new Error(`${typeUrl} from ${target}: ${error.message}`, { cause: error })));
      call.on('end', () => reject(new Error(`${typeUrl} from ${target}: the stream ended without a response`)));
      call.write(create(DiscoveryRequestSchema, { node: options.node ?? ISTIOCTL_NODE, typeUrl, resourceNames: [...(options.names ?? [])], responseNonce: goTimeString(new Date()) }));
    });
  } finally {
    call.cancel();
    client.close();
  }
}

/**
 * The `ClientConfig`s of a syncz response, as istioctl's `XdsStatusWriter` unpacks them; throws on a
 * resource of another type (istioctl fails the same way: "could not unmarshal ClientConfig").
 */
export function clientConfigsOf(response: DiscoveryResponse): ClientConfig[] {
  return response.resources.map((any, index) => {
    const config = anyUnpack(any, ClientConfigSchema);
    if (config === undefined) throw new Error(`resources[${index}] is ${any.typeUrl}, not a ClientConfig`);
    return config;
  });
}
