import type { Clock } from "../../runtime/support.js";

/** Virtual wall time shared by the clocks of every simulated process of one run. */
export class VirtualTime {
  /** Timers fired so far by every clock on this time (a progress signal for stall detection). */
  fired = 0;
  constructor(public now = 1_700_000_000_000) {}
}

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

/**
 * A Clock for in-memory torture runs: no real time passes, so thousands of runs fit in CI and
 * a run is a deterministic function of its schedule (timers, like everything else, advance
 * through setImmediate hops in FIFO order).
 *
 * - Each setImmediate hop fires the earliest-due timer and moves the shared virtual time to
 *   its due time. A backoff of 5 s therefore costs one hop, not 5 s.
 * - Timers due later than `horizonMs` after they were set never fire (periodic sweeps such as
 *   the idempotency-outcome expiry would otherwise move virtual time by days while the run
 *   waits on something else, and expire outcomes the run still relies on).
 * - kill() models the process dying: its pending timers never fire and new ones are ignored.
 */
export class VirtualClock implements Clock {
  private readonly timers = new Map<number, Timer>();
  private seq = 0;
  private pumpScheduled = false;
  private killed = false;

  constructor(
    private readonly time: VirtualTime,
    private readonly horizonMs = 30_000,
  ) {}

  now(): number {
    return this.time.now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const seq = ++this.seq;
    const delay = Math.max(0, Number.isFinite(ms) ? ms : 0);
    if (this.killed || delay > this.horizonMs) return seq; // parked for good
    this.timers.set(seq, { due: this.time.now + delay, seq, fn });
    this.pump();
    return seq;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers waiting to fire (for diagnostics). */
  get pending(): number {
    return this.timers.size;
  }

  kill(): void {
    this.killed = true;
    this.timers.clear();
  }

  private pump(): void {
    if (this.pumpScheduled || this.killed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.killed) return;
      let next: Timer | null = null;
      for (const t of this.timers.values()) if (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq)) next = t;
      if (!next) return;
      this.timers.delete(next.seq);
      this.time.now = Math.max(this.time.now, next.due);
      this.time.fired++;
      if (this.timers.size > 0) this.pump();
      next.fn();
    });
  }
}

/**
 * A Clock whose timers fire only when the test says so (fire()), for tests that must hold a
 * retry backoff open while something else happens.
 */
export class ManualClock implements Clock {
  private readonly timers = new Map<number, { fn: () => void; ms: number }>();
  private seq = 0;

  constructor(private time = 1_700_000_000_000) {}

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const seq = ++this.seq;
    this.timers.set(seq, { fn, ms });
    return seq;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Delays of the timers waiting now, in the order they were set. */
  get pendingDelays(): number[] {
    return [...this.timers.values()].map((t) => t.ms);
  }

  /** Fires every timer set so far whose delay is at most `maxMs` (later ones keep waiting). */
  fire(maxMs = Number.POSITIVE_INFINITY): number {
    const due = [...this.timers.entries()].filter(([, t]) => t.ms <= maxMs);
    for (const [seq, t] of due) {
      this.timers.delete(seq);
      this.time += t.ms;
      t.fn();
    }
    return due.length;
  }
}
