import type { JournalEntryRecord } from "../codec/records.js";

interface Slot {
  entry: JournalEntryRecord | null;
  onDurable: Array<() => void>;
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
    /** Hands the new prefix to the commit pipeline; resolves when it is committed. */
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
   * committed prefix.
   */
  complete(index: number, entry: JournalEntryRecord): Promise<void> {
    const slot = this.slots[index - this.recorded.length];
    if (!slot || slot.entry) throw new Error(`journal slot ${index} is not open`);
    slot.entry = entry;
    const durable = new Promise<void>((resolve) => slot.onDurable.push(resolve));
    this.advance();
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
    void this.persist([...this.recorded]).then(() => {
      for (const slot of moved) for (const resolve of slot.onDurable) resolve();
    });
  }
}
