/** A VirtualService's HTTP routes in a gRPC route configuration (istiod `BuildHTTPRoutesForVirtualService`, `TranslateRoute`). */
import { NORMALIZED_SCHEMA_VERSION, type NormalizedVirtualService } from '@skiff/model';
import { toEnvoyJson } from '@skiff/protos';
import { RouteConfigurationSchema } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { describe, expect, it } from 'vitest';
import { buildGrpcRouteConfiguration } from './route.js';
import { applyVirtualService, chooseVirtualServices } from './virtual-service-lookup.js';
import { untranslatedVirtualServiceFields } from './virtual-service.js';
import type { HttpRouteJson } from './virtual-service.js';

const virtualService = (http: HttpRouteJson[], overrides: Partial<NormalizedVirtualService> = {}): NormalizedVirtualService => ({
  schemaVersion: NORMALIZED_SCHEMA_VERSION,
  namespace: 'shop',
  name: 'api',
  creationTime: 0,
  hosts: ['api.shop.example'],
  gateways: [],
  exportTo: [],
  http,
  ...overrides,
});

const everyone = { namespace: 'shop', hasLabels: () => true };
const options = { domainSuffix: '', defaultVirtualServiceExportTo: [] };

/** The routes of `outbound|PORT||api.shop.example` as proto-JSON. */
function routesOn(port: number, ...virtualServices: NormalizedVirtualService[]): unknown[] {
  const route = buildGrpcRouteConfiguration({
    name: `outbound|${port}||api.shop.example`,
    hostname: 'api.shop.example',
    port,
    protocol: 'GRPC',
    clusterName: `outbound|${port}||api.shop.example`,
    addresses: [],
    absoluteFqdnDomains: false,
    virtualServices: chooseVirtualServices(virtualServices, 'api.shop.example', everyone, options),
  });
  const json = toEnvoyJson(RouteConfigurationSchema, route) as { virtualHosts?: { routes: unknown[] }[] };
  return json.virtualHosts?.[0]?.routes ?? [];
}

describe('VirtualService routes for gRPC clients', () => {
  it('routes stop at the first that matches everything', () => {
    const routes = routesOn(
      8080,
      virtualService([
        { match: [{ uri: { prefix: '/a' } }, { uri: { prefix: '/' } }, { uri: { prefix: '/never' } }], route: [{ destination: { host: 'api.shop.example' } }] },
        { route: [{ destination: { host: 'never.example' } }] },
      ]),
    );
    expect(routes.map((route) => (route as { match: unknown }).match)).toEqual([
      { prefix: '/a', caseSensitive: true },
      { prefix: '/', caseSensitive: true },
    ]);
  });

  it('a route on another port leaves the default route; the destination port defaults to the client port', () => {
    const vs = virtualService([{ match: [{ port: 9090 }], route: [{ destination: { host: 'api.shop.example', subset: 'v1' } }] }]);
    expect(routesOn(8080, vs)).toMatchObject([{ name: 'default', route: { cluster: 'outbound|8080||api.shop.example' } }]);
    expect(routesOn(9090, vs)).toMatchObject([
      {
        route: { cluster: 'outbound|9090|v1|api.shop.example', timeout: '0s', maxStreamDuration: { maxStreamDuration: '0s' } },
        metadata: { filterMetadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/shop/virtual-service/api' } } },
        decorator: { operation: 'api.shop.example:9090/*' },
      },
    ]);
  });

  it('weights: zero-weight destinations are left out; the operation names the VirtualService', () => {
    const vs = virtualService([
      {
        route: [
          { destination: { host: 'api.shop.example', subset: 'v1' }, weight: 90 },
          { destination: { host: 'api.shop.example', subset: 'v2' }, weight: 10 },
          { destination: { host: 'api.shop.example', subset: 'v3' }, weight: 0 },
        ],
      },
    ]);
    expect(routesOn(8080, vs)).toMatchObject([
      {
        route: {
          weightedClusters: {
            clusters: [
              { name: 'outbound|8080|v1|api.shop.example', weight: 90 },
              { name: 'outbound|8080|v2|api.shop.example', weight: 10 },
            ],
          },
        },
        decorator: { operation: 'api:8080/*' },
      },
    ]);
  });

  it('retries: status codes become retriable codes; zero attempts remove the policy', () => {
    const [withCodes] = routesOn(8080, virtualService([{ route: [{ destination: { host: 'api.shop.example' } }], retries: { attempts: 4, retryOn: 'unavailable,503' } }]));
    expect((withCodes as { route: { retryPolicy: unknown } }).route.retryPolicy).toMatchObject({
      retryOn: 'unavailable,retriable-status-codes',
      numRetries: 4,
      retriableStatusCodes: [503],
      hostSelectionRetryMaxAttempts: '5',
    });
    const [without] = routesOn(8080, virtualService([{ route: [{ destination: { host: 'api.shop.example' } }], retries: { attempts: 0 } }]));
    expect((without as { route: Record<string, unknown> }).route['retryPolicy']).toBeUndefined();
  });

  it('the first VirtualService with a route on the port claims the host; a wildcard only without an exact one', () => {
    const wide = virtualService([{ route: [{ destination: { host: 'wide.example' } }] }], { name: 'wide', hosts: ['*.shop.example'] });
    const portOnly = virtualService([{ match: [{ port: 9090 }], route: [{ destination: { host: 'port.example' } }] }], { name: 'port-only', creationTime: 1 });
    const later = virtualService([{ route: [{ destination: { host: 'later.example' } }] }], { name: 'later', creationTime: 2 });
    expect(routesOn(8080, wide, portOnly, later)).toMatchObject([{ route: { cluster: 'outbound|8080||later.example' } }]);
    expect(routesOn(8080, wide)).toMatchObject([{ route: { cluster: 'outbound|8080||wide.example' } }]);
  });

  it('reports the fields it does not build by their place in the spec, also when routes before them do not apply to the client', () => {
    const vs = virtualService([
      { match: [{ sourceNamespace: 'elsewhere' }], route: [{ destination: { host: 'api.shop.example' } }] },
      { match: [{ uri: { prefix: '/old' } }], redirect: { uri: '/new' } },
      { route: [{ destination: { host: 'api.shop.example' } }], mirror: { host: 'copy.example' }, corsPolicy: { allowOrigins: [{ exact: 'a' }] } },
    ]);
    const applied = applyVirtualService(vs, everyone, '');
    expect(applied.http).toHaveLength(2);
    expect(untranslatedVirtualServiceFields(applied)).toEqual([
      'spec.http[1].redirect (the route is left out: grpc-js-xds refuses the whole route configuration for it)',
      'spec.http[2].corsPolicy',
    ]);
    // The redirect route is left out; the catch-all after it is built.
    expect(routesOn(8080, vs)).toMatchObject([
      {
        route: {
          cluster: 'outbound|8080||api.shop.example',
          requestMirrorPolicies: [{ cluster: 'outbound|8080||copy.example', runtimeFraction: { defaultValue: { numerator: 100 } }, traceSampled: false, disableShadowHostSuffixAppend: true }],
        },
      },
    ]);
  });
});
