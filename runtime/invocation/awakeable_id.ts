/**
 * Awakeable ids: `awk.<partition>.<entry>.<base64url(invocation id)>` (docs/record-format.md).
 *
 * The id is all a producer outside KVO needs to complete an awakeable: `<partition>` is the
 * partition of `<app>.invocations` (and of the changelog) that runs the waiting invocation, so
 * the resolution record is produced to that partition explicitly, whatever its key; `<entry>` is
 * the journal index of the awakeable in that invocation; the last part names the invocation.
 * The invocation id is base64url-encoded (UTF-8, no padding) because ids are free text (an
 * idempotency-derived id, a client-chosen one) and may contain the `.` that separates the parts;
 * base64url never does.
 *
 * Pure functions, no Kafka: the client, the partition processor and the SDK share them.
 */

/** The shape named in error messages about malformed ids. */
export const AWAKEABLE_ID_SHAPE = "awk.<partition>.<entry>.<base64url invocation id>";

const PREFIX = "awk";

export interface AwakeableIdParts {
  /** Partition of `<app>.invocations` that runs the waiting invocation. */
  partition: number;
  /** Journal index of the awakeable in that invocation. */
  entry: number;
  /** Id of the waiting invocation (decoded). */
  invocationId: string;
}

/**
 * The id of the awakeable at journal index `entry` of invocation `invocationId`, which runs on
 * `partition`. Throws on arguments no journal can produce (a negative or fractional index, an
 * empty invocation id): that is a bug in the caller, not bad input from outside.
 */
export function formatAwakeableId(partition: number, entry: number, invocationId: string): string {
  if (!isIndex(partition)) throw new RangeError(`awakeable id: partition must be a non-negative safe integer, got ${partition}`);
  if (!isIndex(entry)) throw new RangeError(`awakeable id: entry must be a non-negative safe integer, got ${entry}`);
  if (invocationId.length === 0) throw new RangeError("awakeable id: the invocation id is empty");
  return `${PREFIX}.${partition}.${entry}.${Buffer.from(invocationId, "utf8").toString("base64url")}`;
}

/** The parts of an awakeable id, or null when `id` is not one (see awakeableIdProblem for why). */
export function parseAwakeableId(id: string): AwakeableIdParts | null {
  const result = analyse(id);
  return typeof result === "string" ? null : result;
}

/**
 * Why `id` is not an awakeable id (one sentence, for error messages and DLQ records), or null
 * when it is one.
 */
export function awakeableIdProblem(id: string): string | null {
  const result = analyse(id);
  return typeof result === "string" ? result : null;
}

/**
 * Only the canonical spelling parses: decimal numbers without sign or leading zeros, and the
 * exact base64url that formatAwakeableId writes. Two spellings of one awakeable would otherwise
 * be two ids, and a record with a mangled id could complete an awakeable it does not name.
 */
function analyse(id: string): AwakeableIdParts | string {
  const parts = id.split(".");
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    return `"${preview(id)}" is not an awakeable id: expected ${AWAKEABLE_ID_SHAPE}`;
  }
  const [, partitionText = "", entryText = "", encoded = ""] = parts;
  const partition = parseIndex(partitionText);
  if (partition === null) {
    return `awakeable id "${preview(id)}": partition "${preview(partitionText)}" is not a non-negative integer (expected ${AWAKEABLE_ID_SHAPE})`;
  }
  const entry = parseIndex(entryText);
  if (entry === null) {
    return `awakeable id "${preview(id)}": entry "${preview(entryText)}" is not a non-negative integer (expected ${AWAKEABLE_ID_SHAPE})`;
  }
  const invocationId = decodeInvocationId(encoded);
  if (invocationId === null) {
    return `awakeable id "${preview(id)}": "${preview(encoded)}" is not the unpadded base64url of a UTF-8 invocation id (expected ${AWAKEABLE_ID_SHAPE})`;
  }
  return { partition, entry, invocationId };
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function parseIndex(text: string): number | null {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

function decodeInvocationId(encoded: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return null;
  const bytes = Buffer.from(encoded, "base64url");
  // Round trips reject what Node's lenient decoder accepts: stray trailing characters and
  // non-zero padding bits (second spelling of the same bytes), and bytes that are not UTF-8
  // (decoded with U+FFFD replacements, which would name a different invocation).
  if (bytes.length === 0 || bytes.toString("base64url") !== encoded) return null;
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) ? text : null;
}

/** Bounds what an error message repeats of an untrusted id. */
function preview(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`;
}
