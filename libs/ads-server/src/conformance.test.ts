/**
 * The xDS conformance suite (libs/xds-conformance) against AdsServer serving a StaticResourceProvider:
 * every item of the docs/xds-protocol.md checklist, state of the world and delta, over real gRPC on 127.0.0.1.
 */
import { describeAdsConformance } from '@skiff/xds-conformance';
import { AdsServer, StaticResourceProvider } from './index.js';

describeAdsConformance('AdsServer with StaticResourceProvider', async () => {
  const provider = new StaticResourceProvider();
  const server = new AdsServer({ provider, address: '127.0.0.1:0', debounceMs: 2, maxConnectionAgeMs: 0, shutdownGraceMs: 200 });
  const { port } = await server.listen();
  return { address: `127.0.0.1:${port}`, controls: provider, close: () => server.close() };
});
