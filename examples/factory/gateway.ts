/**
 * The factory gateway: a plain Kafka producer outside KVO that writes each reading as Avro in
 * the Confluent wire format (schema registered under `factory.readings-value`), keyed by
 * device id so that a device's readings stay in order on one partition.
 */
import { createAvroPayloads } from "../../connectors/schema_registry/index.js";
import { produceAll } from "../shared/plain_kafka.js";
import { READINGS_TOPIC, readingSchema, type Reading } from "./schemas.js";

export async function runGateway(brokers: string[], schemaRegistryUrl: string, readings: readonly Reading[]): Promise<void> {
  const avro = createAvroPayloads({ url: schemaRegistryUrl });
  const subject = `${READINGS_TOPIC}-value`;
  const records = await Promise.all(readings.map(async (r) => ({ key: r.deviceId, value: await avro.encode(subject, readingSchema, r) })));
  await produceAll(brokers, READINGS_TOPIC, records);
}
