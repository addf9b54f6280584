import type { OutboundRecord } from "../log/log.js";

/** Estimated heap per buffered record beyond its bytes (record object, Buffers, batch map entry). */
export const RECORD_MEMORY_OVERHEAD = 600;

/** Bytes a record occupies in a transaction (key, value, header names and values). */
export function recordBytes(record: OutboundRecord): number {
  let bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  if (record.headers) for (const [name, value] of Object.entries(record.headers)) bytes += name.length + value.length;
  return bytes;
}

/** Retracted lazy writes are dropped from a batch's list once it holds more than this many entries and they are the majority. */
const LAZY_COMPACT_AT = 1_024;

/** Gives a lazy write's changelog key and value when its batch is sealed. */
export type LazyEncode = () => { key: string; value: Buffer };

/** A lazy changelog write (see Batch.putChangelogLazy); the handle retractLazy takes back. */
export class LazyWrite {
  retracted = false;
  constructor(
    readonly batch: Batch,
    readonly partition: number,
    readonly estimate: number,
    /** Dropped once retracted or encoded: it holds what it encodes (an invocation's input). */
    public encode: LazyEncode | null,
  ) {}
}

/**
 * One unit of group commit: the records of one Kafka transaction and the input positions
 * they account for.
 *
 * A batch is open while processors write into it and sealed when the committer cuts it.
 * Sealing fixes `offsets`: the next offset to consume of every owned partition as of that
 * moment. A retried commit re-sends exactly these records with exactly these offsets, so an
 * offset is never committed without the records written for the inputs before it (records
 * that arrive during a retry's backoff go into the next batch, with their own offsets).
 */
export class Batch {
  /** `${partition}\0${key}` → changelog record; the last write of a key in a batch wins. */
  readonly changelog = new Map<string, OutboundRecord>();
  /**
   * Changelog writes made only if the batch is sealed before they are retracted (see
   * CommitSink.putChangelogLazy), in write order; retracted ones stay in the array, flagged.
   * Kept apart from `changelog` so that the common put-then-retract pair costs no map churn.
   */
  private readonly lazy: LazyWrite[] = [];
  /** Lazy writes not retracted, and their estimated bytes (keys are counted when encoded). */
  private lazyLive = 0;
  private lazyBytes = 0;
  readonly others: OutboundRecord[] = [];
  /** Input positions consumed into this batch while it was open (partition → next offset). */
  readonly consumed = new Map<number, bigint>();
  /** Offsets committed with the batch: every owned partition, fixed when sealed. */
  offsets: Map<number, bigint> | null = null;
  /** Bytes of the records in the batch (the last write of a changelog key only). */
  bytes = 0;
  /**
   * Estimated memory the batch holds: record bytes plus RECORD_MEMORY_OVERHEAD per record.
   * Small records cost far more heap than their bytes (objects, Buffers, map keys): measured on
   * a backlog, ~21 MB of record bytes held ~250 MB of heap.
   */
  get memory(): number {
    return this.bytes + this.size * RECORD_MEMORY_OVERHEAD;
  }
  private resolveFn!: () => void;
  private settleFn!: () => void;
  /** Resolves when the batch committed; never, when it was discarded (fencing). */
  readonly done: Promise<void> = new Promise<void>((resolve) => (this.resolveFn = resolve));
  /** Resolves when the batch committed or was discarded: nothing of it is pending any more. */
  readonly settled: Promise<void> = new Promise<void>((resolve) => (this.settleFn = resolve));

  get empty(): boolean {
    return this.changelog.size === 0 && this.others.length === 0 && this.consumed.size === 0 && this.lazyLive === 0;
  }

  /** Records of the batch, counting the live lazy writes. */
  get size(): number {
    return this.changelog.size + this.others.length + this.lazyLive;
  }

  /**
   * Records and estimated bytes of the batch's live lazy writes (part of size and bytes). The
   * transaction caps count them only beyond an allowance (GroupCommitter.full): a lazy write
   * usually disappears before the batch is sealed (its invocation ends first), so counting
   * each would seal batches in the middle of a delivery, full of records that would otherwise
   * never be written.
   */
  get lazyCount(): number {
    return this.lazyLive;
  }

  get lazyByteCount(): number {
    return this.lazyBytes;
  }

  /** The last write of a changelog key in a batch wins. */
  putChangelog(slot: string, record: OutboundRecord): void {
    const previous = this.changelog.get(slot);
    if (previous) this.bytes -= recordBytes(previous);
    this.changelog.set(slot, record);
    this.bytes += recordBytes(record);
  }

  /** A changelog write encoded when the batch is sealed, unless retracted first (retractLazy). */
  putChangelogLazy(partition: number, estimate: number, encode: LazyEncode): LazyWrite {
    const write = new LazyWrite(this, partition, estimate, encode);
    this.lazy.push(write);
    this.lazyLive++;
    this.lazyBytes += estimate;
    this.bytes += estimate;
    return write;
  }

  /** Takes a lazy write of this (open) batch back; false when it is not live in this batch. */
  retractLazy(write: LazyWrite): boolean {
    if (write.batch !== this || write.retracted) return false;
    write.retracted = true;
    write.encode = null;
    this.lazyLive--;
    this.lazyBytes -= write.estimate;
    this.bytes -= write.estimate;
    // A batch kept open long (a commit retried while invocations go on) must not keep one
    // entry per invocation it saw: drop the retracted ones once they dominate.
    if (this.lazy.length > LAZY_COMPACT_AT && this.lazy.length > 2 * this.lazyLive) {
      let kept = 0;
      for (const w of this.lazy) if (!w.retracted) this.lazy[kept++] = w;
      this.lazy.length = kept;
    }
    return true;
  }

  /** Entries of the lazy-write list (live and retracted), for tests of its bound. */
  get lazyEntries(): number {
    return this.lazy.length;
  }

  /** Removes a changelog write of this batch; false when the batch holds none for the slot. */
  retract(slot: string): boolean {
    const previous = this.changelog.get(slot);
    if (!previous) return false;
    this.bytes -= recordBytes(previous);
    this.changelog.delete(slot);
    return true;
  }

  /**
   * Encodes the live lazy writes into changelog records: called once, when the batch is
   * sealed. A lazy write yields to an ordinary write of the same key in the batch (that one is
   * newer: lazy writes stand for records that were due when they were made).
   */
  materialize(changelogTopic: string): void {
    for (const write of this.lazy) {
      if (write.retracted || !write.encode) continue;
      const { key, value } = write.encode();
      write.retracted = true; // sealed: no longer retractable
      write.encode = null;
      const slot = `${write.partition}\0${key}`;
      this.bytes -= write.estimate;
      if (this.changelog.has(slot)) continue;
      this.putChangelog(slot, { topic: changelogTopic, partition: write.partition, key: Buffer.from(key), value });
    }
    this.lazy.length = 0;
    this.lazyLive = 0;
    this.lazyBytes = 0;
  }

  emit(record: OutboundRecord): void {
    this.others.push(record);
    this.bytes += recordBytes(record);
  }

  records(): OutboundRecord[] {
    return [...this.changelog.values(), ...this.others];
  }

  resolve(): void {
    this.resolveFn();
    this.settleFn();
  }

  discard(): void {
    this.settleFn();
  }
}
