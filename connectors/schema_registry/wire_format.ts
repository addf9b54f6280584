/**
 * The Confluent wire format: byte 0 is the magic byte 0, bytes 1–4 the writer schema's
 * registry id (big-endian, signed 32-bit in Confluent's serializers; ids are positive), then
 * the serialized body.
 */
import { NotAvroError } from "./errors.js";

export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(MAGIC_BYTE, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

/** Splits a framed record; throws NotAvroError (terminal) when it is not framed. */
export function unframe(bytes: Buffer): { schemaId: number; body: Buffer } {
  if (bytes.length < HEADER_LENGTH) {
    throw new NotAvroError(
      `record value of ${bytes.length} byte(s) is not in the Confluent wire format (needs at least ${HEADER_LENGTH}: magic byte 0 and a 4-byte schema id); ` +
        `the producer must serialize with a Schema Registry Avro serializer`,
    );
  }
  const magic = bytes.readUInt8(0);
  if (magic !== MAGIC_BYTE) {
    const hint = magic === 0x7b || magic === 0x5b ? " (it starts like JSON)" : "";
    throw new NotAvroError(
      `record value is not in the Confluent wire format: first byte is ${magic}${hint}, expected the magic byte 0; ` +
        `the producer must serialize with a Schema Registry Avro serializer`,
    );
  }
  // subarray shares memory with the record; avsc only reads it.
  return { schemaId: bytes.readInt32BE(1), body: bytes.subarray(HEADER_LENGTH) };
}
