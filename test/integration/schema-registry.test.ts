/**
 * The Schema Registry (real server, never mocked) through @kafkajs/confluent-schema-registry:
 * an Avro schema registers and fetches back, and a record in Confluent wire format
 * (magic byte 0, 4-byte big-endian schema id, Avro body) round-trips through a real Kafka
 * topic, decoded by a second client that knows nothing but the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";
import avro from "avsc";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { registryService } from "../../compose/infra/registry.js";
import { bootstrapServers } from "./support/endpoints.js";
import { uniqueGroup, uniqueName, uniqueTopic } from "./support/unique.js";
import { createTopicsAndWait } from "./support/create_topics.js";

/** globalSetup exports KVO_SCHEMA_REGISTRY_URL; outside it, the infra default (with its API path). */
const registryUrl = (): string => process.env.KVO_SCHEMA_REGISTRY_URL ?? registryService().endpoint();

const readingSchema = (name = "Reading") => ({
  type: "record",
  name,
  namespace: "kvo.it",
  fields: [
    { name: "machine", type: "string" },
    { name: "temp", type: "double" },
    { name: "at", type: "long" },
    { name: "ok", type: "boolean" },
    { name: "unit", type: { type: "enum", name: "Unit", symbols: ["C", "F"] } },
    { name: "tags", type: { type: "array", items: "string" } },
    { name: "attrs", type: { type: "map", values: "string" } },
    { name: "note", type: ["null", "string"], default: null },
  ],
});

const fingerprint = (schema: unknown): string =>
  avro.Type.forSchema(schema as avro.Schema)
    .fingerprint("sha256")
    .toString("hex");

const kafka = new Kafka({ clientId: "kvo-it-schema-registry", brokers: bootstrapServers(), logLevel: logLevel.NOTHING });
let admin: Admin;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin.disconnect();
});

describe("Schema Registry (Confluent API)", () => {
  it("registers an Avro schema and fetches it back by id and by subject", async () => {
    const registry = new SchemaRegistry({ host: registryUrl() });
    const subject = `${uniqueName("kvo-it-subject")}-value`;
    const schema = readingSchema();

    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
    expect(id).toBeGreaterThan(0);

    // Registering the same schema again is idempotent.
    const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
    expect(again.id).toBe(id);

    expect(await registry.getLatestSchemaId(subject)).toBe(id);

    // A fresh client (empty cache) fetches the schema from the server.
    const fresh = new SchemaRegistry({ host: registryUrl() });
    const fetched = await fresh.getSchema(id);
    expect(fingerprint((fetched as avro.Type).schema())).toBe(fingerprint(schema));

    // The raw REST answer carries the schema as registered, defaults and all.
    const res = await fetch(`${registryUrl()}/schemas/ids/${id}`, {
      headers: { Accept: "application/vnd.schemaregistry.v1+json" },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { schema: string };
    expect(JSON.parse(body.schema)).toEqual(schema);

    // A second, backward-compatible version gets its own id; both versions stay listed.
    const v2 = {
      ...schema,
      fields: [...schema.fields, { name: "line", type: "string", default: "line-7" }],
    };
    const second = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject });
    expect(second.id).not.toBe(id);
    expect(await registry.getLatestSchemaId(subject)).toBe(second.id);
    const versions = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(subject)}/versions`);
    expect(await versions.json()).toEqual([1, 2]);
  });

  it("round-trips a Confluent-framed Avro record through a Kafka topic", async () => {
    const topic = uniqueTopic();
    await createTopicsAndWait(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);

    const writer = new SchemaRegistry({ host: registryUrl() });
    const { id } = await writer.register({ type: SchemaType.AVRO, schema: JSON.stringify(readingSchema()) }, { subject: `${topic}-value` });
    const value = {
      machine: "machine-7",
      temp: 81.5,
      at: 1_732_572_000_123,
      ok: true,
      unit: "C",
      tags: ["hot", "line-7"],
      attrs: { site: "north", shift: "night" },
      note: "über 80°",
    };
    const encoded = await writer.encode(id, value);
    expect(encoded[0]).toBe(0); // magic byte
    expect(encoded.readInt32BE(1)).toBe(id); // schema id, big-endian
    expect(encoded.length).toBeGreaterThan(5);

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: "machine-7", value: encoded }] });
    } finally {
      await producer.disconnect();
    }

    const consumer = kafka.consumer({ groupId: uniqueGroup() });
    let received: Buffer;
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      received = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no record on ${topic} within 30s`)), 30_000);
        void consumer
          .run({
            eachMessage: async ({ message }) => {
              if (message.value) {
                clearTimeout(timer);
                resolve(message.value);
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }

    expect(received.equals(encoded)).toBe(true);
    // The reader knows only the registry: it resolves the writer schema by the id in the frame.
    const reader = new SchemaRegistry({ host: registryUrl() });
    const decoded = (await reader.decode(received)) as Record<string, unknown>;
    expect({ ...decoded }).toStrictEqual(value);
  });

  it("keeps its schemas in Kafka (the registry's journal topic grows with a registration)", async (ctx) => {
    // Only for the registry infra:up starts (Apicurio, kafkasql storage, journal topic below).
    const journal = "kvo-registry-journal";
    if (!(await admin.listTopics()).includes(journal)) ctx.skip();
    const endOffset = async () => (await admin.fetchTopicOffsets(journal)).reduce((sum, p) => sum + Number(p.high), 0);
    const before = await endOffset();
    const registry = new SchemaRegistry({ host: registryUrl() });
    const subject = `${uniqueName("kvo-it-subject")}-value`;
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(readingSchema("Stored")) }, { subject });
    expect(await endOffset()).toBeGreaterThan(before);
  });
});
