import type { Clock } from "../support.js";

/**
 * The due times of one partition's timers (sleeps, delayed sends) in a binary min-heap, with
 * one clock timer armed for the earliest. 100,000 pending timers cost 100,000 small heap
 * entries and one JS timer, not 100,000 JS timers.
 *
 * Entries are named by id; removing one is lazy (the id is forgotten and its heap entry is
 * skipped when it comes up), so remove is O(1) and the heap never holds more than the live
 * entries plus removed ones not yet reached.
 *
 * Nothing fires early: the clock timer may wake a little before the due time (timers round),
 * and then it is simply armed again.
 */
export class TimerQueue {
  private readonly heap: Array<{ at: number; id: string }> = [];
  /** Live entries: id → due time. */
  private readonly due = new Map<string, number>();
  private armedFor: number | null = null;
  private handle: unknown = null;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    /** Called for each due entry, earliest first; at most `maxPerTurn` per slice. */
    private readonly onDue: (id: string) => void,
    /**
     * Awaited between slices when more are due (the partition's next commit): a burst of due
     * timers wakes `maxPerTurn` invocations per commit, not all of them into one transaction
     * that would outlive transaction.timeout.ms. Without it, a slice per turn.
     */
    private readonly betweenSlices?: () => Promise<void>,
    private readonly maxPerTurn = 500,
  ) {}

  get size(): number {
    return this.due.size;
  }

  has(id: string): boolean {
    return this.due.has(id);
  }

  /** Adds (or moves) the entry `id` to fire at `at` (ms since epoch). */
  add(id: string, at: number): void {
    if (this.closed) return;
    if (this.due.get(id) === at) return;
    this.due.set(id, at);
    this.push({ at, id });
    this.arm();
  }

  remove(id: string): void {
    this.due.delete(id);
  }

  close(): void {
    this.closed = true;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
  }

  private arm(): void {
    const head = this.peekLive();
    if (this.closed || head === null) return;
    if (this.armedFor !== null && this.armedFor <= head.at) return;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.armedFor = head.at;
    // Node caps timers at 2^31-1 ms; a later due time is re-armed when this one fires.
    const delay = Math.min(Math.max(0, head.at - this.clock.now()), 2 ** 31 - 1);
    this.handle = this.clock.setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.handle = null;
    this.armedFor = null;
    if (this.closed) return;
    const now = this.clock.now();
    let fired = 0;
    for (let head = this.peekLive(); head !== null && head.at <= now; head = this.peekLive()) {
      if (fired >= this.maxPerTurn) {
        // Many due at once: the partition's other work (and its commit) goes first.
        this.armedFor = now;
        if (this.betweenSlices) void this.betweenSlices().then(() => this.fire());
        else this.handle = this.clock.setTimeout(() => this.fire(), 0);
        return;
      }
      this.pop();
      this.due.delete(head.id);
      fired++;
      this.onDue(head.id);
      if (this.closed) return;
    }
    this.arm();
  }

  /** The earliest live entry, dropping removed or moved ones from the top. */
  private peekLive(): { at: number; id: string } | null {
    for (;;) {
      const head = this.heap[0];
      if (head === undefined) return null;
      if (this.due.get(head.id) === head.at) return head;
      this.pop();
    }
  }

  private push(item: { at: number; id: string }): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= item.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
