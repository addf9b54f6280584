/**
 * Changelog keys are JSON arrays: readable in any Kafka tool and unambiguous whatever
 * characters object keys and state names contain.
 *   ["inv", id]                 accepted invocation (metadata + input)
 *   ["jnl", id]                 completed prefix of its journal
 *   ["out", id]                 outcome kept for idempotency
 *   ["st", object, key, name]   one state value
 *   ["tmr", id]                 a delayed send waiting for its time
 */
export type ChangelogKey =
  | { type: "inv"; id: string }
  | { type: "jnl"; id: string }
  | { type: "out"; id: string }
  | { type: "tmr"; id: string }
  | { type: "st"; object: string; key: string; name: string };

export function encodeChangelogKey(key: ChangelogKey): string {
  switch (key.type) {
    case "inv":
    case "jnl":
    case "out":
    case "tmr":
      return JSON.stringify([key.type, key.id]);
    case "st":
      return JSON.stringify(["st", key.object, key.key, key.name]);
  }
}

/** Returns null for keys this version does not know (written by a newer version): skipped, not fatal. */
export function decodeChangelogKey(raw: string): ChangelogKey | null {
  let parts: unknown;
  try {
    parts = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || !parts.every((p) => typeof p === "string")) return null;
  const [type, a, b, c] = parts;
  if ((type === "inv" || type === "jnl" || type === "out" || type === "tmr") && a !== undefined && parts.length === 2)
    return { type, id: a };
  if (type === "st" && a !== undefined && b !== undefined && c !== undefined && parts.length === 4)
    return { type, object: a, key: b, name: c };
  return null;
}
