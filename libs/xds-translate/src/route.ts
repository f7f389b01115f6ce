/**
 * Route configurations for proxyless gRPC clients (`pilot/pkg/networking/grpcgen/rds.go`
 * `buildHTTPRoute`). istiod names them with the cluster key `outbound|PORT||HOST` and keeps only the
 * virtual host whose domains match the host; without a VirtualService that host has one route
 * to the default cluster.
 */
import { create } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '@skiff/protos/gen/envoy/config/route/v3/route_pb.js';
import { joinHostPort } from './names.js';

export interface GrpcRouteArgs {
  /** `outbound|PORT||HOST`. */
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly clusterName: string;
}

/**
 * One virtual host named `HOST:PORT` with domains `HOST` and `HOST:PORT` (the client matches its
 * target authority, port included, against them), and one route: prefix `""` (every path; gRPC
 * clients need a path specifier) to the cluster.
 */
export function buildGrpcRouteConfiguration(args: GrpcRouteArgs): RouteConfiguration {
  const authority = joinHostPort(args.hostname, args.port);
  return create(RouteConfigurationSchema, {
    name: args.name,
    virtualHosts: [
      {
        name: authority,
        domains: [args.hostname, authority],
        routes: [
          {
            name: 'default',
            match: { pathSpecifier: { case: 'prefix', value: '' } },
            action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: args.clusterName } } },
          },
        ],
      },
    ],
  });
}
