import type { JournalEntryRecord } from "../codec/records.js";

interface Slot {
  entry: JournalEntryRecord | null;
  /** Written along with the next entry that is, never alone (see completeRidingAlong). */
  ridesAlong: boolean;
  onDurable: Array<{ resolve: () => void; reject: (error: Error) => void }>;
  /**
   * Runs in the turn that hands the entry to the commit pipeline, so what it writes (a call's
   * request record, a delayed send's timer) joins the same batch as the entry: both commit or
   * neither, and a replay that finds the entry knows the effect happened.
   */
  effect: (() => void) | null;
}

/**
 * Why the journal is written: "step", a handler's own action (it starts a new commit step:
 * a full batch may be sealed before it); "fill", an outcome arriving, written inside the step
 * that consumed it (with its offset: never sealed away from it).
 */
export type PersistCause = "step" | "fill";

/** The outcome that completes a pending entry (see Journal.fill). */
export interface EntryCompletion {
  value: Buffer | null;
  failure: JournalEntryRecord["failure"];
}

/**
 * The journal of one invocation across its attempts.
 *
 * `recorded` is the completed prefix. Entries of the running attempt get their index when
 * the action starts (call order), may complete out of order (Promise.all over steps), and
 * join `recorded` only as a gap-free prefix, so the journal never holds a result whose
 * predecessors are unknown. Every entry of `recorded` has been handed to the commit pipeline
 * (committed, or in the pending batch), except a tail of entries that ride along
 * (`completeRidingAlong`: a shared handler's reads, any handler's state writes): they are
 * written with the next entry that needs writing (a step), so a handler that only reads and
 * writes state writes no journal at all. An unwritten entry is dropped when its attempt
 * fails; the next attempt does it again, as it would after a restore from the changelog.
 */
export class Journal {
  readonly recorded: JournalEntryRecord[];
  private slots: Slot[] = [];
  /** Length of the prefix of `recorded` handed to the commit pipeline. */
  private handedOver: number;
  /** Length of the prefix of `recorded` known to be committed. */
  private durableLength: number;
  /** The newest hand-over: it carries every handed-over entry, and batches commit in order. */
  private lastPersist: Promise<void> = Promise.resolve();
  /** Waiters for pending entries (done: false), by index; woken by fill(). */
  private readonly doneWaiters = new Map<number, Array<(entry: JournalEntryRecord) => void>>();

  constructor(
    recorded: JournalEntryRecord[],
    /**
     * Hands the new prefix to the commit pipeline; resolves when it is committed. A rejection
     * (the journal cannot be written, e.g. too large) takes the new entries back out and
     * rejects their actions with the error.
     */
    private readonly persist: (entries: JournalEntryRecord[], cause: PersistCause) => Promise<void>,
  ) {
    this.recorded = [...recorded];
    this.handedOver = this.recorded.length;
    this.durableLength = this.recorded.length; // restored from the changelog: committed
  }

  /**
   * Resolves once the recorded entry at `index` is committed. A replay must not hand a
   * recorded result to handler code before that: an entry recorded by an earlier attempt of
   * this process may still sit in an uncommitted batch, and if that batch is lost (fencing, a
   * crash) the step runs again and may return something else. Never resolves when the batch
   * is discarded (the attempt is superseded anyway).
   */
  whenDurable(index: number): Promise<void> {
    return index < this.durableLength ? Promise.resolve() : this.lastPersist;
  }

  /** Reserves the next index for a new action (past the recorded prefix). */
  reserve(): number {
    this.slots.push({ entry: null, ridesAlong: false, onDurable: [], effect: null });
    return this.recorded.length + this.slots.length - 1;
  }

  /**
   * Completes a reserved entry. The returned promise resolves once the entry is part of a
   * committed prefix. Throws at once when the new prefix cannot be written (persist threw,
   * e.g. the journal got too large); the entry is then not recorded. `effect` runs when the
   * entry is handed over (see Slot.effect): at once, or when the entries before it are.
   */
  complete(index: number, entry: JournalEntryRecord, effect?: () => void): Promise<void> {
    const slot = this.openSlot(index);
    slot.entry = entry;
    slot.effect = effect ?? null;
    const durable = new Promise<void>((resolve, reject) => slot.onDurable.push({ resolve, reject }));
    try {
      this.advance();
    } catch (error) {
      durable.catch(() => undefined); // the caller gets the error thrown instead
      throw error;
    }
    return durable;
  }

  /**
   * Completes a reserved entry that needs no commit of its own: a shared handler's read
   * (ctx.get / ctx.stateKeys) or a state write (ctx.set / clear / clearAll, whose effect
   * applies only with the invocation's outcome). Nothing outside the process depends on it
   * until a later entry (a step) is written, and that write carries it; if none follows,
   * a replay after a crash does the same actions again from the same state.
   */
  completeRidingAlong(index: number, entry: JournalEntryRecord): void {
    const slot = this.openSlot(index);
    slot.entry = entry;
    slot.ridesAlong = true;
    this.advance();
  }

  /**
   * Resolves once the recorded entry at `index` is done (at once when it is). Entries recorded
   * pending (a call, a timer, an awakeable) are done by fill().
   */
  waitDone(index: number): Promise<JournalEntryRecord> {
    const entry = this.recorded[index];
    if (entry && entry.done !== false) return Promise.resolve(entry);
    return new Promise((resolve) => {
      let list = this.doneWaiters.get(index);
      if (!list) this.doneWaiters.set(index, (list = []));
      list.push(resolve);
    });
  }

  /**
   * Completes a pending entry with the outcome that arrived for it (a callee's outcome, a
   * timer, an awakeable's value, a cancellation) and hands the rewritten journal to the commit
   * pipeline, in the caller's turn (so with whatever consumed that outcome). Returns false and
   * changes nothing when the entry is not recorded or already done (a repeated completion).
   * Waiters are woken at once: a completion is final (a re-delivery after a lost batch carries
   * the same outcome), and whatever the handler then writes commits after this batch.
   * Throws when the journal cannot be written (too large).
   */
  fill(index: number, completion: EntryCompletion): boolean {
    const current = index < this.handedOver ? this.recorded[index] : undefined;
    if (!current || current.done !== false) return false;
    const done: JournalEntryRecord = { ...current, value: completion.value, failure: completion.failure, done: true };
    this.recorded[index] = done;
    try {
      const persisted = this.persist([...this.recorded], "fill");
      // everything recorded so far went with it (riding-along entries too)
      this.handedOver = this.recorded.length;
      const length = this.recorded.length;
      this.lastPersist = persisted.then(
        () => void (this.durableLength = Math.max(this.durableLength, length)),
        () => new Promise<void>(() => {}),
      );
    } catch (error) {
      this.recorded[index] = current;
      throw error;
    }
    const waiters = this.doneWaiters.get(index);
    this.doneWaiters.delete(index);
    for (const wake of waiters ?? []) wake(done);
    return true;
  }

  /** Recorded entries still waiting for their completion. */
  pending(): Array<{ index: number; entry: JournalEntryRecord }> {
    const out: Array<{ index: number; entry: JournalEntryRecord }> = [];
    for (let i = 0; i < this.handedOver; i++) {
      const entry = this.recorded[i]!;
      if (entry.done === false) out.push({ index: i, entry });
    }
    return out;
  }

  /**
   * Drops entries of an attempt that never completed (their actions re-run next attempt),
   * and reads not yet written (the next attempt reads the state again).
   */
  abandonOpenSlots(): void {
    this.slots = [];
    this.recorded.length = this.handedOver;
    // The next attempt waits again through its own context; the old one's waiters must not run.
    this.doneWaiters.clear();
  }

  private openSlot(index: number): Slot {
    const slot = this.slots[index - this.recorded.length];
    if (!slot || slot.entry) throw new Error(`journal slot ${index} is not open`);
    return slot;
  }

  private advance(): void {
    const moved: Slot[] = [];
    while (this.slots.length > 0 && this.slots[0]!.entry) {
      const slot = this.slots.shift()!;
      this.recorded.push(slot.entry!);
      moved.push(slot);
    }
    if (moved.every((slot) => slot.ridesAlong)) return; // nothing new needs writing (or nothing moved)
    const before = this.recorded.length - moved.length;
    const fail = (error: Error) => {
      if (this.recorded.length >= before) this.recorded.length = before;
      this.handedOver = Math.min(this.handedOver, before);
      for (const slot of moved) for (const w of slot.onDurable) w.reject(error);
    };
    let persisted: Promise<void>;
    try {
      persisted = this.persist([...this.recorded], "step");
      this.handedOver = this.recorded.length;
    } catch (error) {
      fail(error as Error);
      throw error;
    }
    for (const slot of moved) slot.effect?.();
    const length = this.recorded.length;
    this.lastPersist = persisted.then(
      () => void (this.durableLength = Math.max(this.durableLength, length)),
      () => new Promise<void>(() => {}), // not written: nothing replays it
    );
    persisted.then(() => {
      for (const slot of moved) for (const w of slot.onDurable) w.resolve();
    }, fail);
  }
}
