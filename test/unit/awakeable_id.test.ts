import { describe, expect, it } from "vitest";
import { AWAKEABLE_ID_SHAPE, awakeableIdProblem, formatAwakeableId, parseAwakeableId } from "../../runtime/invocation/awakeable_id.js";

describe("awakeable ids", () => {
  it("writes awk.<partition>.<entry>.<base64url of the UTF-8 invocation id>", () => {
    expect(formatAwakeableId(3, 17, "inv-1")).toBe(`awk.3.17.${Buffer.from("inv-1").toString("base64url")}`);
    expect(formatAwakeableId(0, 0, "a")).toBe("awk.0.0.YQ");
  });

  it("round-trips ids with dots, slashes, spaces and non-ASCII characters", () => {
    for (const invocationId of ["inv.with.dots", "c-AbC_-/+==", "Order/ä ü 😀", "ik-" + "x".repeat(200)]) {
      const id = formatAwakeableId(12, 4, invocationId);
      expect(id.split(".")).toHaveLength(4);
      expect(id).toMatch(/^awk\.12\.4\.[A-Za-z0-9_-]+$/);
      expect(parseAwakeableId(id)).toEqual({ partition: 12, entry: 4, invocationId });
      expect(awakeableIdProblem(id)).toBeNull();
    }
  });

  it("refuses arguments no journal produces", () => {
    expect(() => formatAwakeableId(-1, 0, "x")).toThrow(RangeError);
    expect(() => formatAwakeableId(0, 1.5, "x")).toThrow(/entry/);
    expect(() => formatAwakeableId(0, 0, "")).toThrow(/empty/);
  });

  const good = Buffer.from("inv-1").toString("base64url"); // "aW52LTE"
  it.each([
    ["", "not an awakeable id"],
    ["awk", "not an awakeable id"],
    [`awk.1.2`, "not an awakeable id"],
    [`awake.1.2.${good}`, "not an awakeable id"],
    [`AWK.1.2.${good}`, "not an awakeable id"],
    [`awk.1.2.${good}.x`, "not an awakeable id"],
    [`awk..2.${good}`, "partition"],
    [`awk.-1.2.${good}`, "partition"],
    [`awk.01.2.${good}`, "partition"],
    [`awk.1e3.2.${good}`, "partition"],
    [`awk.99999999999999999999.2.${good}`, "partition"],
    [`awk.1.x.${good}`, "entry"],
    [`awk.1.+2.${good}`, "entry"],
    [`awk.1.2.`, "base64url"],
    [`awk.1.2.${good}=`, "base64url"], // padded
    [`awk.1.2.aW52LTE+`, "base64url"], // standard alphabet
    [`awk.1.2.aW52LTF`, "base64url"], // non-zero padding bits: a second spelling of "inv-1"
    [`awk.1.2.aW52LTEx9`, "base64url"], // a length no encoder writes
    [`awk.1.2.${Buffer.from([0xff, 0xfe]).toString("base64url")}`, "UTF-8"],
  ])("rejects %j", (id, why) => {
    expect(parseAwakeableId(id)).toBeNull();
    const problem = awakeableIdProblem(id);
    expect(problem).toContain(why);
    expect(problem).toContain(AWAKEABLE_ID_SHAPE);
  });

  it("keeps error messages short for huge ids", () => {
    const problem = awakeableIdProblem("z".repeat(100_000));
    expect(problem).not.toBeNull();
    expect(problem!.length).toBeLessThan(400);
  });
});
