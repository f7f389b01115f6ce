/**
 * The real proxyless client: @grpc/grpc-js-xds resolves `xds:///example-app:8080` through AdsServer
 * (LDS -> RDS -> CDS -> EDS, the minimal resources of docs/grpc-proxyless.md) and calls three real gRPC
 * backends on 127.0.0.1. Endpoint removals reach it; an invalid ClusterLoadAssignment is NACKed,
 * shows in the session registry, and traffic keeps flowing on the last good one.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@skiff/protos';
import { Cluster_DiscoveryType, Cluster_LbPolicy, ClusterSchema } from '@skiff/protos/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ApiVersion } from '@skiff/protos/gen/envoy/config/core/v3/config_source_pb.js';
import { ClusterLoadAssignmentSchema } from '@skiff/protos/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '@skiff/protos/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { RouterSchema } from '@skiff/protos/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpConnectionManagerSchema } from '@skiff/protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { eventually } from '@skiff/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdsServer, StaticResourceProvider, syncStatusOf, type AdsTypeStatus, type StaticResource } from './index.js';

const LISTENER = 'example-app:8080';
const ROUTE = 'example-app-route';
const CLUSTER = 'example-app-cluster';
const EDS_NAME = 'example-app-eds';
const METHOD = '/skiff.test.Echo/Which';

function minimalResources(): StaticResource[] {
  const manager = create(HttpConnectionManagerSchema, {
    httpFilters: [{ name: 'envoy.filters.http.router', configType: { case: 'typedConfig', value: anyPack(RouterSchema, create(RouterSchema)) } }],
    routeSpecifier: { case: 'rds', value: { routeConfigName: ROUTE, configSource: { configSourceSpecifier: { case: 'ads', value: {} }, resourceApiVersion: ApiVersion.V3 } } },
  });
  const listener = create(ListenerSchema, { name: LISTENER, apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, manager) } });
  const route = create(RouteConfigurationSchema, {
    name: ROUTE,
    virtualHosts: [
      {
        name: 'example-app-vh',
        domains: [LISTENER],
        routes: [{ match: { pathSpecifier: { case: 'prefix', value: '' } }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: CLUSTER } } } }],
      },
    ],
  });
  const cluster = create(ClusterSchema, {
    name: CLUSTER,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: EDS_NAME, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} }, resourceApiVersion: ApiVersion.V3 } },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
  });
  return [
    { typeUrl: TypeUrl.Listener, name: LISTENER, bytes: toBinary(ListenerSchema, listener) },
    { typeUrl: TypeUrl.RouteConfiguration, name: ROUTE, bytes: toBinary(RouteConfigurationSchema, route) },
    { typeUrl: TypeUrl.Cluster, name: CLUSTER, bytes: toBinary(ClusterSchema, cluster) },
  ];
}

/** The CLA for the given endpoints (IP literals, or a host name the client must reject). */
function loadAssignment(endpoints: ReadonlyArray<{ address: string; port: number }>): StaticResource {
  const assignment = create(ClusterLoadAssignmentSchema, {
    clusterName: EDS_NAME,
    endpoints: [
      {
        locality: { region: 'local', zone: 'a' },
        loadBalancingWeight: 1,
        lbEndpoints: endpoints.map(({ address, port }) => ({
          hostIdentifier: {
            case: 'endpoint' as const,
            value: { address: { address: { case: 'socketAddress' as const, value: { address, portSpecifier: { case: 'portValue' as const, value: port } } } } },
          },
        })),
      },
    ],
  });
  return { typeUrl: TypeUrl.ClusterLoadAssignment, name: EDS_NAME, bytes: toBinary(ClusterLoadAssignmentSchema, assignment) };
}

interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: grpc.Server;
}

/** A gRPC server whose one method answers with the server's name (raw bytes, no schema). */
async function startBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  const raw = (bytes: Buffer): Buffer => bytes;
  server.addService(
    { Which: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Which: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  return { name, port, server };
}

/**
 * grpc-js-xds, loaded with Node's require. vitest starts its workers with `--conditions import` (the
 * workspace's resolve conditions), so `require('xxhash-wasm')` inside grpc-js-xds would get that
 * package's ESM build as a namespace object instead of its CommonJS function ("xxhash is not a
 * function"); the CommonJS build is put in the require cache under the ESM file's name first.
 */
function loadGrpcXds(): { register(): void } {
  const require = createRequire(import.meta.url);
  const resolvedEntry = require.resolve('xxhash-wasm');
  const commonJsEntry = join(dirname(resolvedEntry), '..', 'cjs', 'xxhash-wasm.cjs');
  if (resolvedEntry !== commonJsEntry) {
    require(commonJsEntry);
    require.cache[resolvedEntry] = require.cache[commonJsEntry];
  }
  return require('@grpc/grpc-js-xds') as { register(): void };
}

describe('the real @grpc/grpc-js-xds client against AdsServer', () => {
  const provider = new StaticResourceProvider();
  const server = new AdsServer({ provider, address: '127.0.0.1:0', debounceMs: 1, maxConnectionAgeMs: 0, shutdownGraceMs: 200 });
  let backends: Backend[] = [];
  let client: grpc.Client;

  /** Runs `count` RPCs one after the other; returns the hits per backend and the errors. */
  async function spread(count: number): Promise<{ hits: Record<string, number>; errors: string[] }> {
    const hits: Record<string, number> = {};
    const errors: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const raw = (bytes: Buffer): Buffer => bytes;
      await new Promise<void>((resolve) => {
        client.makeUnaryRequest(METHOD, raw, raw, Buffer.alloc(0), { deadline: Date.now() + 5_000 }, (error, reply) => {
          if (error) errors.push(error.message);
          else if (reply !== undefined) hits[reply.toString()] = (hits[reply.toString()] ?? 0) + 1;
          resolve();
        });
      });
    }
    return { hits, errors };
  }

  function endpointsStatus(): AdsTypeStatus {
    const sessions = server.sessions.byNodeId('proto-client-1');
    const status = sessions[0]?.types.find((type) => type.typeUrl === TypeUrl.ClusterLoadAssignment);
    if (status === undefined) throw new Error('the client has no EDS subscription yet');
    return status;
  }

  beforeAll(async () => {
    backends = await Promise.all(['b1', 'b2', 'b3'].map(startBackend));
    provider.upsert([...minimalResources(), loadAssignment(backends.map(({ port }) => ({ address: '127.0.0.1', port })))]);
    const { port } = await server.listen();
    // Read once, when the first xds: channel is created (node.locality is required, docs/grpc-proxyless.md#bootstrap).
    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'proto-client-1', cluster: 'proto-client', locality: { region: 'local', zone: 'a' }, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
    });
    loadGrpcXds().register();
    client = new grpc.Client(`xds:///${LISTENER}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await server.close();
    for (const backend of backends) backend.server.forceShutdown();
  });

  it('resolves LDS, RDS, CDS and EDS by name and spreads RPCs over every backend', async () => {
    const { hits, errors } = await spread(30);
    expect(errors).toEqual([]);
    expect(Object.keys(hits).sort()).toEqual(['b1', 'b2', 'b3']);
    const [session] = server.sessions.byNodeId('proto-client-1');
    expect(session?.profile).toEqual({ namespace: 'default', flavor: 'grpc'});
    expect(session?.types.map((type) => [type.typeUrl, type.wildcard, type.names])).toEqual([
      [TypeUrl.Cluster, false, [CLUSTER]],
      [TypeUrl.ClusterLoadAssignment, false, [EDS_NAME]],
      [TypeUrl.Listener, false, [LISTENER]],
      [TypeUrl.RouteConfiguration, false, [ROUTE]],
    ]);
    for (const type of session!.types) expect(syncStatusOf(type)).toBe('SYNCED');
  });

  it('stops sending traffic to an endpoint removed from the ClusterLoadAssignment', async () => {
    const before = endpointsStatus().ackedVersion;
    provider.upsert([loadAssignment(backends.slice(0, 2).map(({ port }) => ({ address: '127.0.0.1', port })))]);
    await eventually(() => {
      const status = endpointsStatus();
      expect(status.ackedVersion).not.toBe(before);
      expect(syncStatusOf(status)).toBe('SYNCED');
    });
    await eventually(async () => {
      const { hits, errors } = await spread(20);
      expect(errors).toEqual([]);
      expect(Object.keys(hits).sort()).toEqual(['b1', 'b2']);
    });
  });

  it('sees a NACK for an invalid ClusterLoadAssignment in the registry while traffic keeps flowing', async () => {
    const good = endpointsStatus().ackedVersion;
    provider.upsert([loadAssignment([{ address: 'localhost', port: backends[2]!.port }])]);
    const nacked = await eventually(() => {
      const status = endpointsStatus();
      expect(status.lastNack).toBeDefined();
      return status;
    });
    expect(syncStatusOf(nacked)).toBe('ERROR');
    expect(nacked.lastNack?.message).toContain('address is not a valid IPv4 or IPv6 address: localhost');
    // A NACK carries the version the client still runs.
    expect(nacked.lastNack?.versionInfo).toBe(good);
    const { hits, errors } = await spread(20);
    expect(errors).toEqual([]);
    expect(Object.keys(hits).sort()).toEqual(['b1', 'b2']);
  });
});
