/**
 * The Avro payload codec (connectors/schema_registry/) against an in-process fake registry:
 * Confluent wire format, caching, error classification (terminal vs retryable), reader-schema
 * evolution and encode validation.
 */
import avro from "avsc";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KvoError } from "../../sdk/errors.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/index.js";
import { LruCache } from "../../connectors/schema_registry/lru.js";
import type { AvroPayloads } from "../../runtime/payload/avro_port.js";
import { FakeSchemaRegistry } from "../support/fake_schema_registry.js";

const readingV1 = {
  type: "record",
  name: "Reading",
  namespace: "kvo.unit",
  fields: [
    { name: "machine", type: "string" },
    { name: "temp", type: "double" },
    { name: "at", type: "long" },
    { name: "unit", type: { type: "enum", name: "Unit", symbols: ["C", "F"] } },
    { name: "note", type: ["null", "string"], default: null },
  ],
};
const readingV2 = { ...readingV1, fields: [...readingV1.fields, { name: "line", type: "string", default: "line-7" }] };
const value = { machine: "m-1", temp: 81.5, at: 1_732_572_000_123, unit: "C", note: "hot" };

let registry: FakeSchemaRegistry;
let codec: SchemaRegistryAvroPayloads;

beforeEach(async () => {
  registry = await new FakeSchemaRegistry().start();
  codec = new SchemaRegistryAvroPayloads({ url: registry.url, requestTimeoutMs: 2_000 });
});

afterEach(async () => {
  await registry.stop();
});

/** The rejection of `promise`, asserted to be a KvoError. */
async function failure(promise: Promise<unknown>): Promise<KvoError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvoError);
  return err as KvoError;
}

function framed(id: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, body]);
}

describe("wire format", () => {
  it("encodes as magic byte 0, the 4-byte big-endian schema id and the Avro body, and decodes it back", async () => {
    const payloads: AvroPayloads = codec;
    const bytes = await payloads.encode("readings-value", readingV1, value);
    const id = registry.add(readingV1);
    expect(bytes[0]).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(id);
    expect(bytes.subarray(5).equals(avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value))).toBe(true);

    const decoded = await payloads.decode(bytes);
    expect(decoded.writerSchemaId).toBe(id);
    expect({ ...(decoded.value as object) }).toStrictEqual(value);
  });

  it("decodes a record another producer framed, with an id above 2^24 (all four id bytes count)", async () => {
    for (let i = 0; i < 3; i++) registry.add({ type: "fixed", name: `Pad${i}`, size: 1 });
    const id = registry.add(readingV1);
    const body = avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value);
    const decoded = await codec.decode(framed(id, body));
    expect(decoded.writerSchemaId).toBe(id);
    // An id the registry does not know, built so that only its high byte is set.
    const err = await failure(codec.decode(framed(0x01000000 + id, body)));
    expect(err.code).toBe("unknown_schema_id");
  });
});

describe("caching", () => {
  it("fetches a writer schema once: a second decode of the same id makes no request", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    await codec.decode(bytes);
    await codec.decode(bytes);
    await codec.decode(bytes, readingV2);
    await codec.decode(bytes, readingV2);
    expect(registry.requestsTo("/schemas/ids/")).toEqual([{ method: "GET", path: `/schemas/ids/${id}` }]);
  });

  it("decodes synchronously once the writer schema is cached (decodeIfCached), undefined before", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    expect(codec.decodeIfCached(bytes, readingV2)).toBeUndefined();
    const decoded = await codec.decode(bytes, readingV2);
    expect(codec.decodeIfCached(bytes, readingV2)).toEqual(decoded);
    expect(() => codec.decodeIfCached(Buffer.from("{}"))).toThrow(/Confluent|magic|framed/i);
  });

  it("shares one request among concurrent decodes of a new id", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    await Promise.all(Array.from({ length: 20 }, () => codec.decode(bytes)));
    expect(registry.requestsTo("/schemas/ids/")).toHaveLength(1);
  });

  it("registers a subject's schema once and reuses the id for later encodes", async () => {
    await codec.encode("readings-value", readingV1, value);
    await codec.encode("readings-value", readingV1, { ...value, temp: 20 });
    // The same schema content from another object: same text, still cached.
    await codec.encode("readings-value", JSON.parse(JSON.stringify(readingV1)) as object, value);
    expect(registry.requestsTo("/subjects/")).toEqual([{ method: "POST", path: "/subjects/readings-value/versions" }]);
  });

  it("is bounded: with room for one schema, alternating ids are fetched again", async () => {
    const small = new SchemaRegistryAvroPayloads({ url: registry.url, cacheSize: 1 });
    const a = registry.add(readingV1);
    const b = registry.add(readingV2);
    const bytesA = framed(a, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    const bytesB = framed(b, avro.Type.forSchema(readingV2 as avro.Schema).toBuffer({ ...value, line: "l" }));
    await small.decode(bytesA);
    await small.decode(bytesB);
    await small.decode(bytesA);
    expect(registry.requestsTo("/schemas/ids/")).toHaveLength(3);
  });

  it("LruCache evicts the least recently used entry", () => {
    const lru = new LruCache<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1); // a is now the most recent
    lru.set("c", 3);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
    expect(lru.size).toBe(2);
  });
});

describe("decode errors", () => {
  it("unknown schema id: terminal unknown_schema_id naming the id and the registry", async () => {
    const err = await failure(codec.decode(framed(4242, Buffer.from([2, 0x61]))));
    expect(err.code).toBe("unknown_schema_id");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("schema id 4242");
    expect(err.message).toContain(registry.url);
  });

  it("not Confluent-framed (first byte not 0, or shorter than the header): terminal not_avro, no registry request", async () => {
    const json = await failure(codec.decode(Buffer.from('{"machine":"m-1"}')));
    expect(json.code).toBe("not_avro");
    expect(json.retryable).toBe(false);
    expect(json.message).toContain("first byte is 123");
    const short = await failure(codec.decode(Buffer.from([0, 0, 1])));
    expect(short.code).toBe("not_avro");
    expect(short.message).toContain("3 byte(s)");
    const empty = await failure(codec.decode(Buffer.alloc(0)));
    expect(empty.code).toBe("not_avro");
    expect(registry.requests).toHaveLength(0);
  });

  it("a schema id naming a non-Avro schema: terminal not_avro", async () => {
    const id = registry.add('syntax = "proto3"; message M {}', { schemaType: "PROTOBUF" });
    const err = await failure(codec.decode(framed(id, Buffer.from([1]))));
    expect(err.code).toBe("not_avro");
    expect(err.message).toContain("PROTOBUF");
  });

  it("a body that does not decode with its writer schema: terminal avro_decode_failed", async () => {
    const id = registry.add(readingV1);
    const body = avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value);
    const truncated = await failure(codec.decode(framed(id, body.subarray(0, body.length - 2))));
    expect(truncated.code).toBe("avro_decode_failed");
    expect(truncated.retryable).toBe(false);
    expect(truncated.message).toContain(`writer schema id ${id}`);
    const trailing = await failure(codec.decode(framed(id, Buffer.concat([body, Buffer.from([1, 2])]))));
    expect(trailing.code).toBe("avro_decode_failed");
  });

  it("a long outside the safe integer range: terminal avro_decode_failed, never a rounded number", async () => {
    const id = registry.add({ type: "record", name: "Big", fields: [{ name: "n", type: "long" }] });
    // zig-zag varint of 2^53 + 1 (written by a producer with 64-bit longs)
    const big = 2n ** 53n + 1n;
    let zz = big << 1n;
    const bytes: number[] = [];
    while (zz >= 0x80n) {
      bytes.push(Number((zz & 0x7fn) | 0x80n));
      zz >>= 7n;
    }
    bytes.push(Number(zz));
    const err = await failure(codec.decode(framed(id, Buffer.from(bytes))));
    expect(err.code).toBe("avro_decode_failed");
    expect(err.message).toContain("safe integer range");
    // The documented way out: a reader schema that declares the field double (explicit precision loss).
    const asDouble = await codec.decode(framed(id, Buffer.from(bytes)), {
      type: "record",
      name: "Big",
      fields: [{ name: "n", type: "double" }],
    });
    expect((asDouble.value as { n: number }).n).toBe(2 ** 53);
  });
});

describe("reader schema", () => {
  it("decodes a v1 record into a v2 reader schema, filling the added field's default", async () => {
    const v1 = registry.add(readingV1, { subject: "readings-value" });
    const v1Bytes = framed(v1, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    const decoded = await codec.decode(v1Bytes, readingV2);
    expect(decoded.writerSchemaId).toBe(v1);
    expect({ ...(decoded.value as object) }).toStrictEqual({ ...value, line: "line-7" });

    const v2Bytes = await codec.encode("readings-value", readingV2, { ...value, line: "line-3" });
    const decodedV2 = await codec.decode(v2Bytes, readingV2);
    expect((decodedV2.value as { line: string }).line).toBe("line-3");
    expect(decodedV2.writerSchemaId).not.toBe(v1);
  });

  it("a writer schema that cannot be resolved into the reader: terminal incompatible_reader_schema", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    const noDefault = { ...readingV1, fields: [...readingV1.fields, { name: "line", type: "string" }] };
    const err = await failure(codec.decode(bytes, noDefault));
    expect(err.code).toBe("incompatible_reader_schema");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`writer schema id ${id}`);
    expect(err.message).toContain("kvo.unit.Reading");
  });

  it("an invalid reader schema: terminal schema_rejected", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    const err = await failure(codec.decode(bytes, { type: "record", name: "Broken", fields: [{ name: "x", type: "nope" }] }));
    expect(err.code).toBe("schema_rejected");
  });
});

describe("registry unavailable", () => {
  it("registry down: retryable schema_registry_unavailable, and decoding works once it is back", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    const port = new URL(registry.url).port;
    await registry.stop();
    const err = await failure(codec.decode(bytes));
    expect(err.code).toBe("schema_registry_unavailable");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("unreachable");
    expect(err.message).toContain(`127.0.0.1:${port}`);

    const encodeErr = await failure(codec.encode("readings-value", readingV1, value));
    expect(encodeErr.code).toBe("schema_registry_unavailable");
    expect(encodeErr.retryable).toBe(true);
  });

  it("5xx answers are retryable and not cached: the next call asks again", async () => {
    const id = registry.add(readingV1);
    const bytes = framed(id, avro.Type.forSchema(readingV1 as avro.Schema).toBuffer(value));
    registry.failWith = 503;
    const err = await failure(codec.decode(bytes));
    expect(err.code).toBe("schema_registry_unavailable");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("HTTP 503");
    registry.failWith = undefined;
    expect((await codec.decode(bytes)).writerSchemaId).toBe(id);
  });

  it("a bare 404 (URL without the Confluent API path) is retryable, not unknown_schema_id", async () => {
    const id = registry.add(readingV1);
    const wrongUrl = registry.url.replace("/apis/ccompat/v7", "");
    const misconfigured = new SchemaRegistryAvroPayloads({ url: wrongUrl });
    const err = await failure(misconfigured.decode(framed(id, Buffer.from([]))));
    expect(err.code).toBe("schema_registry_unavailable");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("/apis/ccompat/v7");
  });

  it("a registry that does not answer in time: retryable", async () => {
    const silent = await import("node:http").then(({ createServer }) => createServer(() => undefined));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as import("node:net").AddressInfo;
      const slow = new SchemaRegistryAvroPayloads({ url: `http://127.0.0.1:${port}`, requestTimeoutMs: 200 });
      const err = await failure(slow.decode(framed(1, Buffer.from([]))));
      expect(err.code).toBe("schema_registry_unavailable");
      expect(err.message).toContain("no answer within 200 ms");
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe("encode errors", () => {
  it("a value that does not match the schema: terminal avro_encode_failed naming the field paths, nothing registered", async () => {
    const err = await failure(codec.encode("readings-value", readingV1, { ...value, temp: "hot", unit: "K" }));
    expect(err.code).toBe("avro_encode_failed");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('temp: expected double, got "hot"');
    expect(err.message).toContain('unit: expected kvo.unit.Unit, got "K"');
    expect(err.message).toContain('subject "readings-value"');
    expect((err as unknown as { paths: string[] }).paths).toEqual(["temp", "unit"]);
    expect(registry.requests).toHaveLength(0);
  });

  it("an unsafe long on encode is refused, not rounded", async () => {
    const err = await failure(
      codec.encode("big-value", { type: "record", name: "Big", fields: [{ name: "n", type: "long" }] }, { n: 2 ** 53 + 2 }),
    );
    expect(err.code).toBe("avro_encode_failed");
    expect(err.message).toContain("n: expected long");
  });

  it("a schema the registry refuses as incompatible: terminal schema_rejected, with the fix", async () => {
    registry.failWith = 409;
    const err = await failure(codec.encode("readings-value", readingV1, value));
    expect(err.code).toBe("schema_rejected");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("incompatible");
    expect(err.message).toContain("PUT /config/readings-value");
  });

  it("autoRegister: false looks the id up and refuses an unregistered schema as schema_rejected", async () => {
    const lookupOnly = new SchemaRegistryAvroPayloads({ url: registry.url, autoRegister: false });
    const missing = await failure(lookupOnly.encode("readings-value", readingV1, value));
    expect(missing.code).toBe("schema_rejected");
    expect(missing.retryable).toBe(false);
    expect(missing.message).toContain("not registered");
    const id = registry.add(readingV1, { subject: "readings-value" });
    const bytes = await lookupOnly.encode("readings-value", readingV1, value);
    expect(bytes.readInt32BE(1)).toBe(id);
    expect(registry.requestsTo("/subjects/").map((r) => r.path)).toEqual(["/subjects/readings-value", "/subjects/readings-value"]);
  });
});
