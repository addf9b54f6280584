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

/** get and keys: reads of shared handlers (journal schema v2); the others exist since v1. */
export type JournalKind = "run" | "now" | "set" | "clear" | "clearAll" | "get" | "keys";

export interface JournalEntryRecord {
  kind: JournalKind;
  name: string;
  value: Buffer | null;
  failure: FailureRecord | null;
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
const journalCodec = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc", 2: "journal.v2.avsc" });
/** Entry kinds a reader of journal v1 replays correctly. */
const JOURNAL_V1_KINDS: ReadonlySet<JournalKind> = new Set(["run", "now", "set", "clear", "clearAll"]);
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
     * v1 and v2 have the same fields; v2 adds the entry kinds get and keys. A v1 reader would
     * decode those and then fail the replay (non_deterministic), so a journal holding one is
     * written as v2, which such a reader refuses as "written by a newer version" instead.
     * Every other journal is still written as v1: processes not yet upgraded keep reading them.
     */
    encode: (r: JournalRecord): Buffer =>
      r.entries.every((e) => JOURNAL_V1_KINDS.has(e.kind)) ? journalCodec.encodeAs(1, r) : journalCodec.encode(r),
    decode: (b: Buffer): JournalRecord => journalCodec.decode(b),
  },
  outcome: outcomeCodec,
  stateValue: stateValueCodec,
};
