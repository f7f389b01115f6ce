/** The shared Redis test helpers live in @skiff/testing; re-exported for the store's tests. */
export { connectAdmin, deleteKeys, freePort, listKeys, PrivateRedisServer, SHARED_REDIS_URL, uniquePrefix } from '@skiff/testing';
