import type { JournalEntryRecord } from "../codec/records.js";

interface Slot {
  entry: JournalEntryRecord | null;
  onDurable: Array<{ resolve: () => void; reject: (error: Error) => void }>;
}

/**
 * The journal of one invocation across its attempts.
 *
 * `recorded` is the completed prefix: every entry in it has been handed to the commit
 * pipeline (committed, or in the pending batch). Entries of the running attempt get their
 * index when the action starts (call order), may complete out of order (Promise.all over
 * steps), and join `recorded` only as a gap-free prefix, so the journal never holds a
 * result whose predecessors are unknown.
 */
export class Journal {
  readonly recorded: JournalEntryRecord[];
  private slots: Slot[] = [];

  constructor(
    recorded: JournalEntryRecord[],
    /**
     * Hands the new prefix to the commit pipeline; resolves when it is committed. A rejection
     * (the journal cannot be written, e.g. too large) takes the new entries back out and
     * rejects their actions with the error.
     */
    private readonly persist: (entries: JournalEntryRecord[]) => Promise<void>,
  ) {
    this.recorded = [...recorded];
  }

  /** Reserves the next index for a new action (past the recorded prefix). */
  reserve(): number {
    this.slots.push({ entry: null, onDurable: [] });
    return this.recorded.length + this.slots.length - 1;
  }

  /**
   * Completes a reserved entry. The returned promise resolves once the entry is part of a
   * committed prefix. Throws at once when the new prefix cannot be written (persist threw,
   * e.g. the journal got too large); the entry is then not recorded.
   */
  complete(index: number, entry: JournalEntryRecord): Promise<void> {
    const slot = this.slots[index - this.recorded.length];
    if (!slot || slot.entry) throw new Error(`journal slot ${index} is not open`);
    slot.entry = entry;
    const durable = new Promise<void>((resolve, reject) => slot.onDurable.push({ resolve, reject }));
    try {
      this.advance();
    } catch (error) {
      durable.catch(() => undefined); // the caller gets the error thrown instead
      throw error;
    }
    return durable;
  }

  /** Drops entries of an attempt that never completed (their actions re-run next attempt). */
  abandonOpenSlots(): void {
    this.slots = [];
  }

  private advance(): void {
    const moved: Slot[] = [];
    while (this.slots.length > 0 && this.slots[0]!.entry) {
      const slot = this.slots.shift()!;
      this.recorded.push(slot.entry!);
      moved.push(slot);
    }
    if (moved.length === 0) return;
    const before = this.recorded.length - moved.length;
    const fail = (error: Error) => {
      if (this.recorded.length >= before) this.recorded.length = before;
      for (const slot of moved) for (const w of slot.onDurable) w.reject(error);
    };
    let persisted: Promise<void>;
    try {
      persisted = this.persist([...this.recorded]);
    } catch (error) {
      fail(error as Error);
      throw error;
    }
    persisted.then(() => {
      for (const slot of moved) for (const w of slot.onDurable) w.resolve();
    }, fail);
  }
}
