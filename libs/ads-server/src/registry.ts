/** The connected streams of a server, for debug endpoints (istiod's `/debug/adsz`, `/debug/syncz`) and tests. */
import type { AdsSessionStatus } from './events.js';
import { GrpcStatus, type AdsSession } from './session.js';

export class SessionRegistry {
  private readonly sessions = new Map<string, AdsSession>();

  /** @internal Called by the server when a stream opens. */
  add(session: AdsSession): void {
    this.sessions.set(session.id, session);
  }

  /** @internal Called by the server when a stream closes. */
  delete(session: AdsSession): void {
    this.sessions.delete(session.id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Every connected stream's status, in the order they connected. */
  list(): AdsSessionStatus[] {
    return [...this.sessions.values()].map((session) => session.status());
  }

  get(id: string): AdsSessionStatus | undefined {
    return this.sessions.get(id)?.status();
  }

  /** The streams of one proxy (`node.id`); usually one, more while it reconnects. */
  byNodeId(nodeId: string): AdsSessionStatus[] {
    return [...this.sessions.values()].filter((session) => session.node.id === nodeId).map((session) => session.status());
  }

  /** Ends a stream with UNAVAILABLE so its proxy reconnects (istiod's `/debug/force_disconnect`). */
  disconnect(id: string, details = 'disconnected by the control plane'): boolean {
    const session = this.sessions.get(id);
    if (session === undefined) return false;
    session.end(GrpcStatus.UNAVAILABLE, details);
    return true;
  }

  /** @internal Every live session object. */
  values(): IterableIterator<AdsSession> {
    return this.sessions.values();
  }
}
