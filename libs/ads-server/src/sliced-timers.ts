/**
 * A `Clock` whose timers run at most `sliceSize` callbacks per turn of the event loop. Every session
 * debounces a change with its own timer of the same length, so a change seen by ten thousand streams
 * fires ten thousand timers in one pass of Node's timer list (`lib/internal/timers.js`
 * `listOnTimeout` runs every expired timer of a list before returning to the loop): every response
 * is built and written before a single socket is flushed or a single ACK is read, and the first
 * proxy has the change only once the last one's response is written. Here the callbacks beyond a
 * slice wait for the next turn (`setImmediate`), so the responses of one slice go out, and the ACKs
 * that came in are read, while the next slice is built. Order is kept: callbacks run first in, first
 * out.
 *
 * A slice also ends once its callbacks have written `bytesPerSlice` bytes (`spent`): a hundred
 * sidecars connecting at once to a large mesh each take megabytes of full state, and until the turn
 * ends Node's HTTP/2 sessions send nothing, so the first proxy would wait for every other proxy's
 * responses to be built before it could read a byte of its own.
 */
import type { Clock } from './clock.js';

interface SlicedTimer {
  readonly callback: () => void;
  /** The base clock's timer while it has not fired. */
  handle: unknown;
  cancelled: boolean;
}

export class SlicedTimers implements Clock {
  /** Fired timers waiting for a turn with room, first in first out (`head` is the next one). */
  private queue: SlicedTimer[] = [];
  private head = 0;
  /** Callbacks this turn may still run. */
  private budget: number;
  /** Bytes this turn's callbacks may still write. */
  private bytesLeft: number;
  /** The immediate that starts the next turn's slice; set whenever the budget was used or timers wait. */
  private nextTurn: NodeJS.Immediate | undefined;
  /** Timers set and neither fired nor cleared yet. */
  private armed = 0;

  constructor(
    private readonly base: Clock,
    private readonly sliceSize: number,
    private readonly bytesPerSlice = Number.POSITIVE_INFINITY,
  ) {
    if (!Number.isInteger(sliceSize) || sliceSize < 1) throw new Error(`slice size must be a positive integer, not ${sliceSize}`);
    if (!(bytesPerSlice > 0)) throw new Error(`bytes per slice must be positive, not ${bytesPerSlice}`);
    this.budget = sliceSize;
    this.bytesLeft = bytesPerSlice;
  }

  /** Counts bytes a callback wrote against this turn's slice. */
  spent(bytes: number): void {
    this.bytesLeft -= bytes;
    if (this.bytesLeft < this.bytesPerSlice) this.armNextTurn();
  }

  /** Whether this turn may run another callback. */
  private hasRoom(): boolean {
    return this.budget > 0 && this.bytesLeft > 0;
  }

  now(): number {
    return this.base.now();
  }

  epochMs(): number {
    return this.base.epochMs();
  }

  setTimer(callback: () => void, delayMs: number): unknown {
    const timer: SlicedTimer = { callback, handle: undefined, cancelled: false };
    this.armed += 1;
    timer.handle = this.base.setTimer(() => {
      timer.handle = undefined;
      this.armed -= 1;
      this.fired(timer);
    }, delayMs);
    return timer;
  }

  clearTimer(handle: unknown): void {
    const timer = handle as SlicedTimer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    if (timer.handle !== undefined) {
      this.base.clearTimer(timer.handle);
      this.armed -= 1;
    }
    timer.handle = undefined;
  }

  /** Timers fired but not yet run. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * Timers set and not yet run: armed, or fired and waiting for a slice (one cleared while it waits
   * counts until its turn skips it). Zero once every push of a fan-out has been written.
   */
  get pending(): number {
    return this.armed + this.waiting;
  }

  private fired(timer: SlicedTimer): void {
    if (timer.cancelled) return;
    this.armNextTurn();
    // Nothing waits and the turn has room: run now, as a plain timer would.
    if (this.hasRoom() && this.waiting === 0) {
      this.budget -= 1;
      timer.callback();
      return;
    }
    this.queue.push(timer);
  }

  private armNextTurn(): void {
    this.nextTurn ??= setImmediate(() => this.turn());
  }

  private turn(): void {
    this.nextTurn = undefined;
    this.budget = this.sliceSize;
    this.bytesLeft = this.bytesPerSlice;
    try {
      while (this.hasRoom() && this.waiting > 0) {
        const timer = this.queue[this.head]!;
        this.head += 1;
        if (timer.cancelled) continue;
        this.budget -= 1;
        timer.callback();
      }
    } finally {
      if (this.waiting === 0) {
        this.queue = [];
        this.head = 0;
      }
      // More waiting, or a budget partly used this turn (a callback that threw included): the next turn refills it.
      if (this.waiting > 0 || this.budget < this.sliceSize || this.bytesLeft < this.bytesPerSlice) this.armNextTurn();
    }
  }
}
