/**
 * Fast paths of the per-invocation encoders must give exactly what the plain encoders give:
 * changelog keys are compared byte for byte (compaction, retract) and read back by restores.
 */
import { describe, expect, it } from "vitest";
import { object } from "../../index.js";
import { decodeChangelogKey, encodeChangelogKey } from "../../runtime/codec/changelog_key.js";
import { H } from "../../runtime/invocation/headers.js";
import { isRejected, parseInvocation } from "../../runtime/invocation/envelope.js";
import { Registry } from "../../runtime/registry.js";

const TRICKY = [
  "",
  "p0-o17",
  'quote"inside',
  "back\\slash",
  "new\nline",
  "nul\u0000",
  "unit\u001f",
  "del\u007f",
  "line sep\u2028",
  "grüße-✓",
  "pair \ud83d\ude00",
  "lone high \ud83d",
  "lone low \ude00 end",
  "\ufeffbom",
  "slash/in/key",
];

describe("encodeChangelogKey", () => {
  it("is exactly JSON.stringify of the key's array, for any characters, and decodes back", () => {
    for (const s of TRICKY) {
      for (const type of ["inv", "jnl", "out", "tmr"] as const) {
        expect(encodeChangelogKey({ type, id: s })).toBe(JSON.stringify([type, s]));
        expect(decodeChangelogKey(encodeChangelogKey({ type, id: s }))).toEqual({ type, id: s });
      }
      for (const [object, key, name] of [
        [s, "k", "n"],
        ["Obj", s, "n"],
        ["Obj", "k", s],
      ] as const) {
        const encoded = encodeChangelogKey({ type: "st", object, key, name });
        expect(encoded).toBe(JSON.stringify(["st", object, key, name]));
        expect(decodeChangelogKey(encoded)).toEqual({ type: "st", object, key, name });
      }
    }
  });
});

describe("parseInvocation keys", () => {
  const registry = new Registry([object({ name: "Obj", handlers: { hi: async () => undefined } })]);
  const parse = (key: Buffer, headers: Record<string, Buffer> = {}) =>
    parseInvocation(
      { partition: 0, offset: 3n, key, value: null, headers: { [H.handler]: Buffer.from("hi"), ...headers }, timestamp: 0 },
      registry,
    );

  it("keeps a real U+FFFD and a leading byte-order mark, and refuses invalid bytes", () => {
    const real = parse(Buffer.from("Obj/a\ufffdb"));
    expect(!isRejected(real) && real.key).toBe("a\ufffdb");
    const bom = parse(Buffer.from("Obj/\ufeffk"));
    expect(!isRejected(bom) && bom.key).toBe("\ufeffk");
    const invalid = parse(Buffer.concat([Buffer.from("Obj/a\ufffd"), Buffer.from([0xff])]));
    expect(isRejected(invalid) && invalid.error.code).toBe("invalid_key");
    const ik = parse(Buffer.from("Obj/k"), { [H.idempotencyKey]: Buffer.from("ik-\ufffd") });
    expect(!isRejected(ik) && ik.idempotencyKey).toBe("ik-\ufffd");
    const badIk = parse(Buffer.from("Obj/k"), { [H.idempotencyKey]: Buffer.from([0x41, 0xc3]) });
    expect(isRejected(badIk) && badIk.error.code).toBe("invalid_key");
  });

  it("keeps user headers and drops the runtime's own", () => {
    const p = parse(Buffer.from("Obj/k"), { "x-trace": Buffer.from("t1"), [H.replyTo]: Buffer.from("replies") });
    expect(!isRejected(p) && p.headers).toEqual({ "x-trace": "t1" });
    expect(!isRejected(p) && p.id).toBe("p0-o3");
  });
});
