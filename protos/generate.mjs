// Regenerates libs/protos/src/gen from the Envoy API protos shipped in @grpc/grpc-js-xds.
// Offline and reproducible: buf runs with local modules only (buf.yaml has no deps).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const envoy = 'node_modules/@grpc/grpc-js-xds/deps/envoy-api/envoy';
/** Patched copies (protos/third_party/envoy-api/README.md) replace the shipped files. */
const patchedEnvoy = 'protos/third_party/envoy-api/envoy';
const targets = [
  'service/discovery/v3/ads.proto',
  'service/discovery/v3/discovery.proto',
  'config/cluster/v3/cluster.proto',
  'config/endpoint/v3/endpoint.proto',
  'config/listener/v3/listener.proto',
  'config/route/v3/route.proto',
  'extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'extensions/filters/http/router/v3/router.proto',
  'extensions/filters/http/fault/v3/fault.proto',
  'extensions/upstreams/http/v3/http_protocol_options.proto',
  'extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto',
  'extensions/transport_sockets/tls/v3/tls.proto',
  'extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol.proto',
  'extensions/clusters/dynamic_forward_proxy/v3/cluster.proto',
  'extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'service/status/v3/csds.proto',
  'admin/v3/config_dump.proto',
];
const xds = 'node_modules/@grpc/grpc-js-xds/deps/xds';
const extra = [`${xds}/udpa/type/v1/typed_struct.proto`];

const envoyPath = (t) => (existsSync(`${patchedEnvoy}/${t}`) ? `${patchedEnvoy}/${t}` : `${envoy}/${t}`);
const args = ['generate', ...targets.flatMap((t) => ['--path', envoyPath(t)]), ...extra.flatMap((t) => ['--path', t])];
execFileSync('npx', ['buf', ...args], { stdio: 'inherit' });
