import type { Clock } from "../../runtime/support.js";

/**
 * A clock whose time moves only when a test calls advance(); the timers due by then fire in
 * due order. A stopped clock (its process died) never fires again. With `dueAtOnce`, a timer
 * set already due (delay 0) fires in a microtask without waiting for advance(): as a restarted
 * process's timers that fell due while no process ran.
 */
export class StepClock implements Clock {
  private seq = 0;
  private stopped = false;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(
    private t = 1_000_000,
    private readonly dueAtOnce = false,
  ) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    if (this.stopped) return id;
    this.timers.set(id, { at: this.t + ms, fn });
    if (this.dueAtOnce && ms <= 0) queueMicrotask(() => this.timers.delete(id) && !this.stopped && fn());
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  advance(ms: number): void {
    this.t += ms;
    const due = [...this.timers].filter(([, timer]) => timer.at <= this.t).sort((a, b) => a[1].at - b[1].at);
    for (const [id, timer] of due) {
      this.timers.delete(id);
      if (!this.stopped) timer.fn();
    }
  }

  stop(): void {
    this.stopped = true;
    this.timers.clear();
  }
}
