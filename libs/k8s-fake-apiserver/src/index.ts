export { FakeApiServer, isWatchRequest, statusBody } from './server.js';
export type { ExpiredWatchResponse, FakeApiServerOptions, RequestRecord } from './server.js';
export {
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSIONS,
  LEASE_RESOURCE,
  compareKubeVersions,
  defineResource,
  istioNetworkingResources,
} from './resources.js';
export type { FakeResource, FakeResourceInit } from './resources.js';
export type { ChangeType, KubeObject, KubeObjectMeta } from './object-store.js';
