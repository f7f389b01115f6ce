export {
  GoldenMismatchError,
  OrphanedGoldensError,
  UPDATE_GOLDEN_ENV,
  expectGolden,
  isGoldenUpdateMode,
  pruneGoldens,
} from './golden.js';
export type { GoldenOptions } from './golden.js';
export { eventually, freePort } from './wait.js';
export type { EventuallyOptions } from './wait.js';
export { connectAdmin, deleteKeys, listKeys, PrivateRedisServer, SHARED_REDIS_URL, uniquePrefix } from './redis.js';
export { writeConfigMapVolume } from './configmap-volume.js';
export { TestCertificateAuthority, type IssuedCertificate } from './pki.js';
export { normalizedDestinationRule, normalizedServiceEntry, normalizedWorkload } from './normalized.js';
export { LocalRedisCluster, type ClusterNodeInfo } from './redis-cluster.js';
export { bundleLoadsFromCodeCache } from './bundle.js';
export { chunksOf, frameBoundaries, grpcFramed } from './grpc-framing.js';
