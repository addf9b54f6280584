/**
 * The source of a subscription's invocation on the record (the compact `kvo-source` header,
 * and the six headers of earlier versions, still read), and the relay's JSON fast path: a
 * decoded value is serialised as it is only when that gives what converting it gives.
 */
import { describe, expect, it } from "vitest";
import { object } from "../../index.js";
import { isJsonAsIs, toJsonSafe } from "../../runtime/ingress/json_safe.js";
import { RelayRecords } from "../../runtime/ingress/relay_records.js";
import {
  isSourceHeader,
  SOURCE_HEADER,
  SOURCE_HEADERS,
  SourceHeaderWriter,
  splitSourceHeaders,
} from "../../runtime/ingress/source_headers.js";
import type { ResolvedSubscription } from "../../runtime/ingress/subscription.js";
import { isRejected, parseInvocation } from "../../runtime/invocation/envelope.js";
import { H } from "../../runtime/invocation/headers.js";
import { requestOf } from "../../runtime/partition/invocation_facts.js";
import type { InboundRecord } from "../../runtime/log/log.js";
import { Registry } from "../../runtime/registry.js";
import type { InvocationRecord } from "../../runtime/codec/records.js";

const device = object({ name: "Device", handlers: { reading: async () => null } });
const registry = new Registry([device]);

const sub: ResolvedSubscription = {
  name: "readings",
  topic: "factory.readings",
  target: device,
  handler: "reading",
  key: "record-key",
  value: "json",
  filter: undefined,
  start: "earliest",
  createTopic: undefined,
  groupId: "app.sub.readings",
};
const topics = { invocations: "app.invocations", dlq: "app.dlq" } as unknown as ConstructorParameters<typeof RelayRecords>[1];

function sourceRecord(key: Buffer | null, headers: Record<string, Buffer> = {}): InboundRecord {
  return { partition: 4, offset: 9_007_199_254n, key, value: Buffer.from("{}"), headers, timestamp: 1_700_000_000_123 };
}

/** A relayed record as the processor receives it: headers as strings, kvo-* ones the envelope keeps. */
function asProcessorSees(headers: Record<string, Buffer>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith("kvo-") || isSourceHeader(name)) out[name] = value.toString();
  return out;
}

describe("the source of a subscription's invocation", () => {
  it("travels in one kvo-source header next to the handler and the source record's own headers", () => {
    const records = new RelayRecords(sub, topics, 1_000_000);
    const out = records.invocation(
      sourceRecord(Buffer.from("dev-1"), { trace: Buffer.from("t1"), "kvo-reply-to": Buffer.from("x") }),
      "dev-1",
      null,
    );
    expect(Object.keys(out.headers!).sort()).toEqual([H.handler, SOURCE_HEADER, "trace"].sort());
    expect(out.key!.toString()).toBe("Device/dev-1");
    expect(JSON.parse(out.headers![SOURCE_HEADER]!.toString())).toEqual([
      "readings",
      "factory.readings",
      4,
      9_007_199_254,
      1_700_000_000_123,
      Buffer.from("dev-1").toString("base64"),
    ]);
    const { headers, source } = splitSourceHeaders(asProcessorSees(out.headers!));
    expect(headers).toEqual({ trace: "t1" });
    expect(source).toEqual({
      subscription: "readings",
      topic: "factory.readings",
      partition: 4,
      offset: 9_007_199_254,
      timestamp: 1_700_000_000_123,
      key: Buffer.from("dev-1"),
    });
  });

  it("says null for a source record without key, and keeps binary keys exact", () => {
    const writer = new SourceHeaderWriter("s", "t");
    expect(splitSourceHeaders({ [SOURCE_HEADER]: writer.value(0, 0, 0, null).toString() }).source?.key).toBeNull();
    const binary = Buffer.from([0, 255, 10, 34, 92]);
    expect(splitSourceHeaders({ [SOURCE_HEADER]: writer.value(1, 2, 3, binary).toString() }).source?.key).toEqual(binary);
  });

  it("gives the invocation the id of its source coordinates, and the handler ctx.request.source", () => {
    const records = new RelayRecords(sub, topics, 1_000_000);
    const out = records.invocation(sourceRecord(Buffer.from("dev-1"), { trace: Buffer.from("t1") }), "dev-1", Buffer.from("1"));
    const inbound: InboundRecord = { partition: 0, offset: 17n, key: out.key!, value: out.value!, headers: out.headers!, timestamp: 0 };
    const parsed = parseInvocation(inbound, registry);
    if (isRejected(parsed)) throw new Error(parsed.error.message);
    expect(parsed.id).toBe("sub:readings:factory.readings:4:9007199254");
    const request = requestOf({ id: parsed.id, headers: parsed.headers, attempt: 1, idempotencyKey: null } as unknown as InvocationRecord);
    expect(request.headers).toEqual({ trace: "t1" });
    expect(request.source).toMatchObject({ subscription: "readings", topic: "factory.readings", partition: 4, offset: 9_007_199_254 });
  });

  it("still reads the six headers earlier versions wrote (records and journals from before an upgrade)", () => {
    const legacy = {
      [SOURCE_HEADERS.subscription]: "readings",
      [SOURCE_HEADERS.topic]: "factory.readings",
      [SOURCE_HEADERS.partition]: "4",
      [SOURCE_HEADERS.offset]: "12",
      [SOURCE_HEADERS.timestamp]: "1700000000123",
      [SOURCE_HEADERS.key]: Buffer.from("dev-1").toString("base64"),
      trace: "t1",
    };
    expect(splitSourceHeaders(legacy)).toEqual({
      headers: { trace: "t1" },
      source: {
        subscription: "readings",
        topic: "factory.readings",
        partition: 4,
        offset: 12,
        timestamp: 1_700_000_000_123,
        key: Buffer.from("dev-1"),
      },
    });
    const inbound: InboundRecord = {
      partition: 0,
      offset: 3n,
      key: Buffer.from("Device/dev-1"),
      value: Buffer.from("1"),
      headers: Object.fromEntries<Buffer>([
        [H.handler, Buffer.from("reading")],
        ...Object.entries(legacy).map(([k, v]): [string, Buffer] => [k, Buffer.from(v)]),
      ]),
      timestamp: 0,
    };
    const parsed = parseInvocation(inbound, registry);
    if (isRejected(parsed)) throw new Error(parsed.error.message);
    expect(parsed.id).toBe("sub:readings:factory.readings:4:12");
  });

  it("prefers kvo-source over legacy headers, and hides a malformed one without naming a source", () => {
    const compact = new SourceHeaderWriter("new", "t").value(1, 2, 3, null).toString();
    const both = splitSourceHeaders({
      [SOURCE_HEADER]: compact,
      [SOURCE_HEADERS.subscription]: "old",
      [SOURCE_HEADERS.topic]: "t",
      x: "1",
    });
    expect(both.source?.subscription).toBe("new");
    expect(both.headers).toEqual({ x: "1" });
    for (const bad of [
      "",
      "nope",
      "[]",
      '["s","t",1,2,3]',
      '["s","t",1,2,3,null,"extra"]',
      '["s","t",1.5,2,3,null]',
      '["s","t",1,2,3,7]',
      '[1,"t",1,2,3,null]',
      '["s","t","1",2,3,null]',
    ]) {
      expect(splitSourceHeaders({ [SOURCE_HEADER]: bad, x: "1" }), bad).toEqual({ headers: { x: "1" }, source: undefined });
    }
  });

  it("reads any JSON of the right shape, not only the form the relay writes", () => {
    const read = (text: string) => splitSourceHeaders({ [SOURCE_HEADER]: text }).source;
    expect(read('[ "s\\u0061", "t/x", 1, 2, 3, "AQI=" ]')).toEqual({
      subscription: "sa",
      topic: "t/x",
      partition: 1,
      offset: 2,
      timestamp: 3,
      key: Buffer.from([1, 2]),
    });
    expect(read('["s","t",0,0,0,""]')?.key).toEqual(Buffer.alloc(0));
    expect(read('["s","t",-1,2,3,null]')?.partition).toBe(-1);
    // not JSON (leading zero), or past 2^53: no source
    expect(read('["s","t",01,2,3,null]')).toBeUndefined();
    expect(read('["s","t",1,9999999999999999,3,null]')).toBeUndefined();
    expect(read('["s","t",1,2,3,null] ')).toEqual(read('["s","t",1,2,3,null]'));
  });

  it("leaves the headers of an invocation not made by a subscription as they are", () => {
    const headers = { trace: "t1", "kvo-sourcey": "x" };
    const split = splitSourceHeaders(headers);
    expect(split.headers).toBe(headers);
    expect(split.source).toBeUndefined();
    expect(isSourceHeader(SOURCE_HEADER)).toBe(true);
    expect(isSourceHeader(SOURCE_HEADERS.key)).toBe(true);
    expect(isSourceHeader("kvo-sourcey")).toBe(false);
  });
});

describe("isJsonAsIs", () => {
  class AvroLikeRecord {
    constructor(
      readonly id: string,
      readonly value: number,
    ) {}
    clone(): AvroLikeRecord {
      return new AvroLikeRecord(this.id, this.value);
    }
  }
  class WithToJson {
    toJSON(): string {
      return "custom";
    }
  }
  const asIs: unknown[] = [
    1,
    "s",
    true,
    null,
    { a: 1, b: [1, "x", null, { c: false }], d: undefined },
    new AvroLikeRecord("dev", 2.5),
    [new AvroLikeRecord("a", 1), { nested: new AvroLikeRecord("b", 2) }],
    [],
    {},
  ];
  const converted: unknown[] = [
    10n,
    Buffer.from("ab"),
    new Uint8Array([1, 2]),
    new Float32Array([1]),
    new Date(0),
    new Map([["k", 1]]),
    new WithToJson(),
    { deep: { deeper: [1, 2, Buffer.from("x")] } },
    [1, 2n],
    { when: new Date(5) },
    new AvroLikeRecord("x", 1n as unknown as number),
  ];

  it("is true only where serialising the value gives what serialising its converted copy gives", () => {
    for (const v of asIs) {
      expect(isJsonAsIs(v), JSON.stringify(toJsonSafe(v))).toBe(true);
      expect(JSON.stringify(v)).toBe(JSON.stringify(toJsonSafe(v)));
    }
    for (const v of converted) expect(isJsonAsIs(v), String(JSON.stringify(toJsonSafe(v)))).toBe(false);
  });
});
