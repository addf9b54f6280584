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
