import { codecFromFiles } from "./avro.js";

/** Shapes of the internal records; mirror schemas/*.avsc. */
export interface FailureRecord {
  code: string;
  message: string;
}

export interface ReplyTarget {
  topic: string;
  correlationId: string | null;
}

export interface InvocationRecord {
  id: string;
  target: string;
  key: string | null;
  handler: string;
  input: Buffer | null;
  headers: Record<string, string>;
  replyTo: ReplyTarget[];
  seq: bigint;
  idempotencyKey: string | null;
  attempt: number;
  lastError: FailureRecord | null;
  acceptedAt: number;
}

/**
 * get and keys: reads of shared handlers (journal schema v2); call … resolvePromise: calls,
 * sends, timers, awakeables, combinators and workflow promises (v3); the others exist since v1.
 */
export type JournalKind =
  | "run"
  | "now"
  | "set"
  | "clear"
  | "clearAll"
  | "get"
  | "keys"
  | "call"
  | "send"
  | "sleep"
  | "awakeable"
  | "resolveAwakeable"
  | "race"
  | "any"
  | "promise"
  | "resolvePromise";

export interface JournalEntryRecord {
  kind: JournalKind;
  name: string;
  value: Buffer | null;
  failure: FailureRecord | null;
  /** False while the entry waits for its completion (v3); absent means true. */
  done?: boolean;
  /** call: "<callee id> <callee record key>"; awakeable, resolveAwakeable: the awakeable id (v3). */
  ref?: string | null;
  /** sleep: wake-up time, ms since epoch (v3). */
  at?: number | null;
}

/** A delayed send waiting for its time (changelog key ["tmr", id]). */
export interface TimerRecord {
  id: string;
  fireAt: number;
  key: Buffer;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

export interface JournalRecord {
  invocationId: string;
  entries: JournalEntryRecord[];
}

export interface OutcomeRecord {
  invocationId: string;
  value: Buffer | null;
  failure: FailureRecord | null;
  completedAt: number;
}

export interface StateValueRecord {
  value: Buffer;
}

// avsc maps Avro long to JS number; seq is kept as bigint in memory and converted here.
interface InvocationWire extends Omit<InvocationRecord, "seq"> {
  seq: number;
}

const invocationCodec = codecFromFiles<InvocationWire>("invocation", { 1: "invocation.v1.avsc" });
const journalCodec = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc", 2: "journal.v2.avsc", 3: "journal.v3.avsc" });
/** Entry kinds a reader of journal v1 replays correctly. */
const JOURNAL_V1_KINDS: ReadonlySet<JournalKind> = new Set(["run", "now", "set", "clear", "clearAll"]);
/** Entry kinds a reader of journal v2 replays correctly. */
const JOURNAL_V2_KINDS: ReadonlySet<JournalKind> = new Set([...JOURNAL_V1_KINDS, "get", "keys"]);
const timerCodec = codecFromFiles<TimerRecord>("timer", { 1: "timer.v1.avsc" });

/** v3 fields with their defaults: avsc writes every field of the schema. */
function fullEntry(e: JournalEntryRecord): Required<JournalEntryRecord> {
  return { kind: e.kind, name: e.name, value: e.value, failure: e.failure, done: e.done ?? true, ref: e.ref ?? null, at: e.at ?? null };
}
const outcomeCodec = codecFromFiles<OutcomeRecord>("outcome", { 1: "outcome.v1.avsc" });
const stateValueCodec = codecFromFiles<StateValueRecord>("state-value", { 1: "state-value.v1.avsc" });

export const codecs = {
  invocation: {
    encode: (r: InvocationRecord): Buffer => invocationCodec.encode({ ...r, seq: Number(r.seq) }),
    decode: (b: Buffer): InvocationRecord => {
      const w = invocationCodec.decode(b);
      return { ...w, seq: BigInt(w.seq) };
    },
  },
  journal: {
    /**
     * v1 and v2 have the same fields; v2 adds the entry kinds get and keys; v3 adds the kinds
     * of calls, timers and awakeables and the fields done, ref and at. An older reader would
     * decode a newer kind and then fail the replay (non_deterministic), so each journal is
     * written in the oldest version that represents it fully, and a reader too old for it
     * refuses it as "written by a newer version" instead. Processes not yet upgraded keep
     * reading every journal they can replay.
     */
    encode: (r: JournalRecord): Buffer => {
      const plain = r.entries.every((e) => e.done !== false);
      if (plain && r.entries.every((e) => JOURNAL_V1_KINDS.has(e.kind))) return journalCodec.encodeAs(1, r);
      if (plain && r.entries.every((e) => JOURNAL_V2_KINDS.has(e.kind))) return journalCodec.encodeAs(2, r);
      return journalCodec.encode({ invocationId: r.invocationId, entries: r.entries.map(fullEntry) });
    },
    decode: (b: Buffer): JournalRecord => journalCodec.decode(b),
  },
  timer: timerCodec,
  outcome: outcomeCodec,
  stateValue: stateValueCodec,
};
