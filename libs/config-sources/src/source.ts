/**
 * The contract between a configuration source and the watcher. A source delivers raw Kubernetes-shaped
 * objects (ServiceEntry, WorkloadEntry, ...) as it sees them; validation and normalization happen in
 * the watcher, so every source gets exactly the same treatment of bad input.
 */

/** Identifies one Istio object regardless of its API version. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** Where an object came from, for error messages: `kubernetes` or `file.yaml#2` (document number). */
export type Origin = string;

export type SourceEvent =
  /** The object was added or changed; `object` is the parsed JSON of the whole Kubernetes object. */
  | { readonly type: 'upsert'; readonly object: unknown; readonly origin: Origin }
  /** The object is gone. */
  | { readonly type: 'delete'; readonly ref: ObjectRef; readonly origin: Origin };

export interface SourceHandler {
  /** Called for each change, in order for any one object. */
  event(event: SourceEvent): void;
  /**
   * Called once the initial state of every watched kind has been delivered (informers listed, files
   * read). Called again after a resynchronisation that replaced the whole state (e.g. a relist).
   */
  synced(): void;
  /** A problem the source recovers from by itself (dropped watch, unreadable file); for logs and metrics. */
  problem(message: string, cause?: unknown): void;
  /** What the source did, for the log (e.g. a file applied, changed or removed). */
  info?(message: string): void;
  /**
   * A file source's file stopped parsing (`errors`: why, `keptPrevious`: its last objects that parsed
   * stay in effect) or parses again (`errors` null) or is gone; for `/debug/configz` and the logs.
   */
  fileStatus?(file: string, errors: readonly string[] | null, keptPrevious: boolean): void;
}

/** Whether a source still follows its origin; `reason` says what is wrong when it does not. */
export type SourceHealth = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** A running source. `start` resolves once watching has begun; `close` stops it and releases resources. */
export interface ConfigSource {
  readonly name: string;
  start(handler: SourceHandler): Promise<void>;
  close(): Promise<void>;
  /**
   * Whether the source is still following its origin (for readiness). A source that can lose its
   * origin (a Kubernetes watch) reports it here, after a grace period; absent means always healthy.
   */
  health?(): SourceHealth;
}
