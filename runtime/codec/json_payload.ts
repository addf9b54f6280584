import { SerializationError } from "../../sdk/errors.js";

/**
 * User payloads (inputs, outputs, state values, step results) are JSON. `undefined` is
 * encoded as null bytes / an absent value so it survives a round trip distinct from `null`.
 */
export function encodeJson(value: unknown, what: string): Buffer | null {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new SerializationError(`${what} is not JSON-serializable: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw new SerializationError(`${what} is not JSON-serializable (got ${typeof value})`);
  return Buffer.from(text, "utf8");
}

export function decodeJson(bytes: Buffer | null, what: string): unknown {
  if (bytes === null || bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new SerializationError(`${what} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}
