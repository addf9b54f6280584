import { createHash } from "node:crypto";
import type { DeterministicRandom } from "../../sdk/context.js";

/**
 * sfc32 seeded from SHA-256 of the invocation id: every attempt and every replay of one
 * invocation draws the same sequence, so values derived from ctx.rand need no journaling.
 */
export function seededRandom(seed: string): DeterministicRandom {
  const h = createHash("sha256").update(seed).digest();
  let a = h.readUInt32LE(0),
    b = h.readUInt32LE(4),
    c = h.readUInt32LE(8),
    d = h.readUInt32LE(12);
  const next32 = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  return {
    random: () => next32() / 4294967296,
    uuidv4: () => {
      const bytes = Buffer.alloc(16);
      for (let i = 0; i < 16; i += 4) bytes.writeUInt32LE(next32(), i);
      bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
      bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
      const hex = bytes.toString("hex");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}
