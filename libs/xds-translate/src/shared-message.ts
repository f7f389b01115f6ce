/**
 * Messages that are the same in every resource that holds them (the metadata exchange filter, the
 * proxy agent's SDS secrets, the ADS config source, ...), built once and shared instead of built per
 * cluster: creating a protobuf-es message walks every field of its type, and a cold build of a large
 * mesh built these a hundred thousand times over. Shared messages are frozen, deeply, so a builder
 * that edits one in place fails at once (a TypeError in strict mode) instead of changing every
 * resource that holds it.
 */

/** Freezes `message` and every object under it (byte arrays cannot be frozen and are left as they are) and returns it. */
export function sharedMessage<T extends object>(message: T): T {
  freezeDeep(message);
  return message;
}

function freezeDeep(value: object): void {
  if (ArrayBuffer.isView(value) || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) freezeDeep(child as object);
}
