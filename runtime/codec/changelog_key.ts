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

/**
 * Whether JSON.stringify writes `s` as it is, between quotes: no quote, backslash, control
 * character or surrogate (it escapes lone surrogates; pairs, which it keeps, take the slow
 * path too, with the same result). It escapes nothing else.
 */
function verbatimInJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/**
 * Exactly JSON.stringify of the key's array. Built by concatenation when every part needs no
 * escaping (ids and most object keys): a key is encoded for each changelog write, several per
 * invocation, and JSON.stringify of an array costs several times more.
 */
export function encodeChangelogKey(key: ChangelogKey): string {
  switch (key.type) {
    case "inv":
    case "jnl":
    case "out":
    case "tmr":
      return verbatimInJson(key.id) ? `["${key.type}","${key.id}"]` : JSON.stringify([key.type, key.id]);
    case "st":
      return verbatimInJson(key.object) && verbatimInJson(key.key) && verbatimInJson(key.name)
        ? `["st","${key.object}","${key.key}","${key.name}"]`
        : JSON.stringify(["st", key.object, key.key, key.name]);
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
