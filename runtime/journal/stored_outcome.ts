import { decodeJson, encodeJson } from "../codec/json_payload.js";
import type { EntryCompletion } from "./journal.js";

/**
 * How the runtime keeps an outcome in an object's state (JSON, like every state value): a
 * workflow's durable promises (`$kvo.promise.<name>`) and a workflow run's outcome
 * (`$kvo.run`). `{ "ok": true, "value": … }` or `{ "ok": false, "code": …, "message": … }`.
 */
type StoredOutcome = { ok: true; value?: unknown } | { ok: false; code: string; message: string };

export function encodeStoredOutcome(completion: EntryCompletion, what: string): Buffer {
  const stored: StoredOutcome = completion.failure
    ? { ok: false, code: completion.failure.code, message: completion.failure.message }
    : { ok: true, ...(completion.value === null ? {} : { value: decodeJson(completion.value, what) }) };
  return encodeJson(stored, what)!;
}

export function decodeStoredOutcome(bytes: Buffer, what: string): EntryCompletion {
  const stored = decodeJson(bytes, what) as StoredOutcome;
  if (stored.ok) return { value: stored.value === undefined ? null : encodeJson(stored.value, what), failure: null };
  return { value: null, failure: { code: stored.code, message: stored.message } };
}
