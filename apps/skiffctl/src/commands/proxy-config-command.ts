/** The `proxy-config` command and its `cluster`, `endpoint`, `listener` and `route` subcommands, with istioctl's aliases and filters. */
import { Option, type Command } from 'commander';
import { gatewayClient, parsePort, withGatewayOptions, type GatewayOptions } from '../gateway-options.js';
import type { CommandIO } from '../io.js';
import type { ProxyConfigKind } from './proxy-config.js';

export function addProxyConfigCommands(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const proxyConfig = program
    .command('proxy-config')
    .alias('pc')
    .description("what a gateway sent one proxy (clusters, endpoints, listeners, routes), in istioctl proxy-config's tables or as Envoy JSON");
  const kinds: readonly { kind: ProxyConfigKind; aliases: string[]; description: string; filters: (command: Command) => Command }[] = [
    {
      kind: 'cluster',
      aliases: ['clusters', 'c'],
      description: 'the clusters sent to the proxy',
      filters: (command) =>
        command
          .option('--fqdn <host>', 'only clusters whose name contains this host')
          .option('--port <port>', 'only clusters of this port', parsePort)
          .option('--subset <subset>', 'only clusters whose name contains this subset')
          .option('--direction <direction>', 'only clusters whose name contains this direction (inbound, outbound)'),
    },
    {
      kind: 'endpoint',
      aliases: ['endpoints', 'ep'],
      description: 'the endpoints sent to the proxy',
      filters: (command) =>
        command
          .option('--address <ip>', 'only endpoints with this address')
          .option('--port <port>', 'only endpoints on this port', parsePort)
          .option('--cluster <name>', 'only endpoints of this cluster')
          .option('--status <status>', 'only endpoints with this health status (HEALTHY, UNHEALTHY, DRAINING, ...)'),
    },
    {
      kind: 'listener',
      aliases: ['listeners', 'l'],
      description: 'the listeners sent to the proxy (gRPC API listeners, named host:port)',
      filters: (command) => command.option('--address <ip>', 'only listeners with this address').option('--port <port>', 'only listeners on this port', parsePort),
    },
    {
      kind: 'route',
      aliases: ['routes', 'r'],
      description: 'the route configurations sent to the proxy',
      filters: (command) => command.option('--name <name>', 'only the route configuration of this name'),
    },
  ];
  for (const { kind, aliases, description, filters } of kinds) {
    const command = proxyConfig
      .command(kind)
      .aliases(aliases)
      .description(description)
      .argument('<proxy-id>', "the proxy: istiod's proxy ID (pod.namespace) or its full node id")
      .option('-n, --namespace <ns>', 'namespace of a proxy ID given without one')
      .addOption(
        new Option('-o, --output <format>', "short: istioctl's table; json or yaml: the resources in Envoy's JSON form, a list as istioctl prints it").choices(['short', 'json', 'yaml']).default('short'),
      );
    withGatewayOptions(filters(command), "the replica serving the proxy (proxy-status's GATEWAY column)").action(async (proxyId: string, options: GatewayOptions & Record<string, string | number | undefined>) => {
      const text = (name: string): string | undefined => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
      const number = (name: string): number | undefined => (typeof options[name] === 'number' ? (options[name] as number) : undefined);
      const namespace = text('namespace');
      const id = namespace !== undefined && !proxyId.includes('.') && !proxyId.includes('~') ? `${proxyId}.${namespace}` : proxyId;
      // Loaded here, not at start-up: it pulls in the Envoy protobuf registry, which only this command needs.
      const { runProxyConfig } = await import('./proxy-config.js');
      setExitCode(
        await runProxyConfig(
          {
            gateway: gatewayClient(options),
            kind,
            proxyId: id,
            output: (text('output') ?? 'short') as 'short' | 'json' | 'yaml',
            clusterFilter: { fqdn: text('fqdn'), port: number('port'), subset: text('subset'), direction: text('direction') },
            endpointFilter: { address: text('address'), port: number('port'), cluster: text('cluster'), status: text('status') },
            listenerFilter: { address: text('address'), port: number('port') },
            ...(text('name') === undefined ? {} : { routeName: text('name') as string }),
          },
          io,
        ),
      );
    });
  }
}
