/**
 * The Avro payload codec (connectors/schema_registry/) against the real Schema Registry
 * (Apicurio's Confluent API, never mocked): two versions of a subject, the second adding a
 * field with a default; a record encoded with each decodes into the v2 reader schema, by a
 * codec that knows nothing but the registry.
 */
import { describe, expect, it } from "vitest";
import { registryService } from "../../compose/infra/registry.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/index.js";
import { KvoError } from "../../sdk/errors.js";
import { uniqueName } from "./support/unique.js";

/** globalSetup exports KVO_SCHEMA_REGISTRY_URL; outside it, the infra default (with its API path). */
const registryUrl = (): string => process.env.KVO_SCHEMA_REGISTRY_URL ?? registryService().endpoint();

const readingV1 = {
  type: "record",
  name: "Reading",
  namespace: "kvo.it.payloads",
  fields: [
    { name: "machine", type: "string" },
    { name: "temp", type: "double" },
    { name: "at", type: "long" },
    { name: "unit", type: { type: "enum", name: "Unit", symbols: ["C", "F"] } },
    { name: "raw", type: "bytes" },
    { name: "note", type: ["null", "string"], default: null },
  ],
};
const readingV2 = { ...readingV1, fields: [...readingV1.fields, { name: "line", type: "string", default: "line-7" }] };

describe("Avro payloads through the real Schema Registry", () => {
  it("encodes with v1 and v2 of a subject and decodes both into the v2 reader schema", async () => {
    const subject = `${uniqueName("kvo-it-payloads")}-value`;
    const writer = new SchemaRegistryAvroPayloads({ url: registryUrl() });
    const v1Value = { machine: "m-1", temp: 81.5, at: 1_732_572_000_123, unit: "C", raw: Buffer.from([1, 2, 3]), note: null };
    const v2Value = { ...v1Value, machine: "m-2", unit: "F", note: "über 80°", line: "line-3" };

    const v1Bytes = await writer.encode(subject, readingV1, v1Value);
    const v2Bytes = await writer.encode(subject, readingV2, v2Value);
    const v1Id = v1Bytes.readInt32BE(1);
    const v2Id = v2Bytes.readInt32BE(1);
    expect(v1Bytes[0]).toBe(0);
    expect(v2Bytes[0]).toBe(0);
    expect(v2Id).not.toBe(v1Id);

    // Both versions are registered under the subject, in order.
    const versions = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(subject)}/versions`);
    expect(await versions.json()).toEqual([1, 2]);

    // A fresh codec (empty caches) knows only the registry.
    const reader = new SchemaRegistryAvroPayloads({ url: registryUrl() });
    const fromV1 = await reader.decode(v1Bytes, readingV2);
    const fromV2 = await reader.decode(v2Bytes, readingV2);
    expect(fromV1.writerSchemaId).toBe(v1Id);
    expect(fromV2.writerSchemaId).toBe(v2Id);
    expect({ ...(fromV1.value as object) }).toStrictEqual({ ...v1Value, line: "line-7" });
    expect({ ...(fromV2.value as object) }).toStrictEqual(v2Value);

    // Without a reader schema, each record comes back in its writer's shape.
    expect({ ...((await reader.decode(v1Bytes)).value as object) }).toStrictEqual(v1Value);

    // Encoding v1 again reuses the id registered first (idempotent registration, cached id).
    expect((await writer.encode(subject, readingV1, v1Value)).equals(v1Bytes)).toBe(true);
  });

  it("classifies the real registry's answer for an unknown schema id as terminal unknown_schema_id", async () => {
    const codec = new SchemaRegistryAvroPayloads({ url: registryUrl() });
    const framed = Buffer.from([0, 0x7f, 0xff, 0xff, 0x00, 0x02]);
    const err = await codec.decode(framed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KvoError);
    expect((err as KvoError).code).toBe("unknown_schema_id");
    expect((err as KvoError).retryable).toBe(false);
  });
});
