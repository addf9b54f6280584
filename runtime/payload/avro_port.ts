/**
 * The port through which runtime code (subscriptions decode, egress encodes) reads and writes
 * application payloads that are Avro in the Confluent wire format: magic byte 0, the writer
 * schema's registry id as a 4-byte big-endian integer, then the Avro binary body.
 *
 * Pure types and constants: the runtime depends on this file only; the HTTP adapter lives in
 * connectors/schema_registry/ and tests substitute a fake. How each Avro type maps to a JS value
 * is documented in docs/schema-registry.md ("Application payloads").
 */

import type { AvroSchema } from "../../sdk/avro_format.js";

export type { AvroSchema };

export interface DecodedAvroPayload {
  /** The decoded value, in the reader schema's shape when one was given, else the writer's. */
  value: unknown;
  /** The registry id of the schema the producer wrote with (from the record's frame). */
  writerSchemaId: number;
}

export interface AvroPayloads {
  /**
   * Decodes one Confluent-framed record by the writer schema id in its frame, optionally
   * resolved into `readerSchema` (Avro schema resolution: fields added with a default are
   * filled in, removed fields are skipped, numeric types promoted).
   *
   * Rejects with an error carrying one of {@link AvroPayloadErrorCodes}; `retryable` on the
   * error says whether the same bytes may decode later (registry unavailable) or never will.
   */
  decode(bytes: Buffer, readerSchema?: AvroSchema): Promise<DecodedAvroPayload>;

  /**
   * The same decode, synchronously, when the writer schema is already cached; undefined when
   * it is not (then call `decode`). Throws the terminal errors `decode` rejects with. Optional:
   * it spares a promise per record on the hot path of a subscription.
   */
  decodeIfCached?(bytes: Buffer, readerSchema?: AvroSchema): DecodedAvroPayload | undefined;

  /**
   * Encodes `value` with `schema`, registered (or looked up) under `subject` (by convention
   * `<topic>-value` or `<topic>-key`), and frames it with the schema's registry id.
   */
  encode(subject: string, schema: AvroSchema, value: unknown): Promise<Buffer>;
}

/** Stable codes of the errors an AvroPayloads implementation rejects with. */
export const AvroPayloadErrorCodes = {
  /** Terminal: the bytes are not Confluent-framed (too short, or first byte not 0), or the id names a non-Avro schema. */
  notAvro: "not_avro",
  /** Terminal: the registry has no schema with the frame's id. */
  unknownSchemaId: "unknown_schema_id",
  /** Terminal: the body does not decode with its writer schema (truncated, trailing bytes, long out of range). */
  decodeFailed: "avro_decode_failed",
  /** Terminal: the writer schema cannot be resolved into the reader schema the caller asked for. */
  incompatibleReaderSchema: "incompatible_reader_schema",
  /** Terminal: the value does not match the schema it is encoded with. */
  encodeFailed: "avro_encode_failed",
  /** Terminal: the schema is not valid Avro, or the registry refused it for the subject (invalid, incompatible, unknown subject). */
  schemaRejected: "schema_rejected",
  /** Retryable: the registry could not be reached or answered with a server-side or unexpected error. */
  registryUnavailable: "schema_registry_unavailable",
} as const;

export type AvroPayloadErrorCode = (typeof AvroPayloadErrorCodes)[keyof typeof AvroPayloadErrorCodes];
