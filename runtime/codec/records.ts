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

export type JournalKind = "run" | "now" | "set" | "clear" | "clearAll";

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
const journalCodec = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc" });
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
  journal: journalCodec,
  outcome: outcomeCodec,
  stateValue: stateValueCodec,
};
