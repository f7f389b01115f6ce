/**
 * The in-memory store: the same contract as Redis inside one process, for the all-in-one mode and for
 * unit tests. One module per facet of the contract (`memory-service-entries.ts`, `memory-scope-objects.ts`, `memory-change-log.ts`,
 * `memory-resources.ts`, `memory-invalidations.ts`, `memory-lease.ts`, `memory-fleet.ts`) over the state
 * they share (`memory-state.ts`). Every operation runs to completion before another starts (one
 * JavaScript thread), which gives the atomicity the Redis scripts give; time (lease expiry, idle
 * entries, tombstones) comes from an injectable clock; invalidations are delivered asynchronously, like
 * pub/sub.
 */
import {
  DEFAULT_CHANGE_LOG_MAX_LENGTH,
  DEFAULT_TOMBSTONE_TTL_MS,
  StoreError,
  type ChangeLog,
  type ConnectionStateEvent,
  type FleetRegistry,
  type InvalidationBus,
  type Lease,
  type ResourceWriter,
  type ServiceEntryWriter,
  type GatewayWriter,
  type SidecarWriter,
  type Store,
  type StoreHealth,
  type StoreOptions,
} from './contract.js';
import { memoryChangeLog } from './memory-change-log.js';
import { memoryFleet } from './memory-fleet.js';
import { memoryInvalidations } from './memory-invalidations.js';
import { memoryLease } from './memory-lease.js';
import { memoryResources } from './memory-resources.js';
import { memoryServiceEntries } from './memory-service-entries.js';
import { memoryScopeObjects } from './memory-scope-objects.js';
import { MemoryData, MemoryState, systemClock, type Clock } from './memory-state.js';
import { keyLayout } from './redis-keys.js';

export { ManualClock, systemClock, type Clock } from './memory-state.js';

export interface MemoryStoreOptions extends StoreOptions {
  readonly clock?: Clock;
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}

export class MemoryStore implements Store {
  readonly serviceEntries: ServiceEntryWriter;
  readonly sidecars: SidecarWriter;
  readonly gateways: GatewayWriter;
  readonly changeLog: ChangeLog;
  readonly resources: ResourceWriter;
  readonly invalidations: InvalidationBus;
  readonly lease: Lease;
  readonly fleet: FleetRegistry;

  private readonly state: MemoryState;
  private readonly stateListeners = new Set<(event: ConnectionStateEvent) => void>();

  constructor(options: MemoryStoreOptions = {}) {
    keyLayout(options.keyPrefix); // same prefix rules as Redis, although memory has no keys
    const changeLogMaxLength = options.changeLogMaxLength ?? DEFAULT_CHANGE_LOG_MAX_LENGTH;
    if (!Number.isSafeInteger(changeLogMaxLength) || changeLogMaxLength < 1) throw new StoreError('invalid-argument', 'changeLogMaxLength must be a positive integer');
    this.state = new MemoryState(options.clock ?? systemClock, changeLogMaxLength);
    this.serviceEntries = memoryServiceEntries(this.state);
    this.sidecars = memoryScopeObjects(this.state, 'Sidecar');
    this.gateways = memoryScopeObjects(this.state, 'Gateway');
    this.changeLog = memoryChangeLog(this.state);
    this.resources = memoryResources(this.state, options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS);
    this.invalidations = memoryInvalidations(this.state);
    this.lease = memoryLease(this.state);
    this.fleet = memoryFleet(this.state);
  }

  async epoch(): Promise<string | null> {
    return this.state.op(() => this.state.data.epoch);
  }

  async ping(): Promise<void> {
    return this.state.op(() => undefined);
  }

  health(): StoreHealth {
    const state = this.state.closed ? 'closed' : 'ready';
    return {
      state,
      reconnects: 0,
      errors: 0,
      connections: [{ name: 'memory', state, reconnects: 0, reconnectAttempts: 0, errors: 0 }],
      listenerErrors: this.state.counters.listenerErrors,
      malformed: this.state.counters.malformed,
    };
  }

  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Drops all data, as a Redis restarted without persistence would; subscriptions stay open. */
  wipe(): void {
    this.state.data = new MemoryData();
  }

  async close(): Promise<void> {
    if (this.state.closed) return;
    this.state.closed = true;
    for (const wake of this.state.logWaiters) wake();
    this.state.logWaiters.clear();
    await Promise.all([...this.state.subscriptions].map((subscription) => subscription.close()));
    for (const listener of this.stateListeners) listener({ connection: 'memory', state: 'closed' });
  }
}
