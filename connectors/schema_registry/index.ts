/** Avro application payloads in the Confluent wire format, through a Schema Registry. */
import { SchemaRegistryAvroPayloads, type SchemaRegistryAvroPayloadsOptions } from "./avro_payloads.js";

export { SchemaRegistryAvroPayloads, type SchemaRegistryAvroPayloadsOptions } from "./avro_payloads.js";
export * from "./errors.js";
export { frame, unframe } from "./wire_format.js";

/** The local development registry `npm run infra:up` starts (Apicurio's Confluent API). */
export const DEFAULT_SCHEMA_REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7";

/** A codec on KVO_SCHEMA_REGISTRY_URL (else the local default) unless `url` is given. */
export function createAvroPayloads(options: Partial<SchemaRegistryAvroPayloadsOptions> = {}): SchemaRegistryAvroPayloads {
  return new SchemaRegistryAvroPayloads({
    ...options,
    url: options.url ?? process.env.KVO_SCHEMA_REGISTRY_URL ?? DEFAULT_SCHEMA_REGISTRY_URL,
  });
}
