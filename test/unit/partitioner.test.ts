import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { defaultPartition, murmur2 } from "../../runtime/log/partitioner.js";

// kafkajs's port of Java's Utils.murmur2: the reference the runtime must agree with.
const kafkajsMurmur2 = createRequire(import.meta.url)("kafkajs/src/producer/partitioners/default/murmur2.js") as (key: Buffer) => number;

describe("default partitioner (murmur2)", () => {
  it("matches kafkajs's murmur2 on 2,000 keys of every length 0..40", () => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) & 0xff;
    for (let i = 0; i < 2_000; i++) {
      const key = Buffer.from(Array.from({ length: i % 41 }, next));
      expect(murmur2(key), key.toString("hex")).toBe(kafkajsMurmur2(key));
    }
  });

  it("puts known keys where Java's client does", () => {
    // Values from Kafka's own DefaultPartitionerTest / Utils.murmur2 tests
    expect(murmur2(Buffer.from("21"))).toBe(-973932308);
    expect(murmur2(Buffer.from("foobar"))).toBe(-790332482);
    expect(defaultPartition(Buffer.from("21"), 10)).toBe((-973932308 & 0x7fffffff) % 10);
  });
});
