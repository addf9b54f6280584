/**
 * Decoded source values become handler inputs, which are JSON. Avro decoders produce values
 * JSON.stringify would mangle: Buffers (bytes, fixed) become `{type:"Buffer",data:[...]}`,
 * bigints throw. This converts them the documented way (docs/schema-registry.md): bytes and
 * fixed as base64 strings, bigints as numbers when safe else decimal strings, Maps as objects.
 * Record instances of avsc become plain objects of their fields.
 */
export function toJsonSafe(value: unknown): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    return value;
  }
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = toJsonSafe(v);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toJsonSafe(v);
  return out;
}

/**
 * Whether JSON.stringify(value) already gives what JSON.stringify(toJsonSafe(value)) gives,
 * so the copy toJsonSafe makes can be skipped: true when nothing in it needs converting
 * (no bigint, no bytes or other binary views, no Date or Map, nothing with a toJSON of its
 * own). Allocates nothing but each object's key list; most decoded records (numbers, strings,
 * nested records and arrays) pass.
 */
export function isJsonAsIs(value: unknown): boolean {
  if (value === null || typeof value !== "object") return typeof value !== "bigint";
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof Map) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isJsonAsIs(value[i])) return false;
    return true;
  }
  // JSON.stringify calls a toJSON (own or inherited); toJsonSafe's copy would not have an inherited one
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!isJsonAsIs(record[key])) return false;
  return true;
}
