/**
 * Errors of the Schema Registry adapter. They are adapter errors, not SDK ones: callers (the
 * subscription and egress layers) act on `code` (AvroPayloadErrorCodes, in the runtime port)
 * and `retryable`, never on the class.
 *
 * The rule behind `retryable`: an error is terminal only when it is about the record or value
 * itself (the same bytes can never decode, the same value never encode). Anything about the
 * registry (down, 5xx, timeout, auth, a misconfigured URL) is retryable, so a good record is
 * never dead-lettered because the registry was unavailable.
 */
import { KvoError } from "../../sdk/errors.js";
import { AvroPayloadErrorCodes, type AvroPayloadErrorCode } from "../../runtime/payload/avro_port.js";

export class AvroPayloadError extends KvoError {
  declare readonly code: AvroPayloadErrorCode;

  constructor(message: string, options: { code: AvroPayloadErrorCode; retryable: boolean; cause?: unknown }) {
    super(message, options);
  }
}

/** Terminal: the bytes are not a Confluent-framed Avro record. */
export class NotAvroError extends AvroPayloadError {
  constructor(message: string) {
    super(message, { code: AvroPayloadErrorCodes.notAvro, retryable: false });
  }
}

/** Terminal: the registry answered that no schema has this id (error 40403). */
export class UnknownSchemaIdError extends AvroPayloadError {
  constructor(
    readonly schemaId: number,
    registryUrl: string,
  ) {
    super(
      `schema id ${schemaId} (from the record's Confluent frame) is unknown to the Schema Registry at ${registryUrl} (error 40403). ` +
        `The producer wrote with a schema registered in another registry, or the schema was deleted; ` +
        `point KVO_SCHEMA_REGISTRY_URL at the producer's registry or re-register the schema.`,
      { code: AvroPayloadErrorCodes.unknownSchemaId, retryable: false },
    );
  }
}

/** Terminal: the body does not decode with its writer schema. */
export class AvroDecodeError extends AvroPayloadError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: AvroPayloadErrorCodes.decodeFailed, retryable: false, cause });
  }
}

/** Terminal: the writer schema cannot be resolved into the caller's reader schema. */
export class IncompatibleReaderSchemaError extends AvroPayloadError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: AvroPayloadErrorCodes.incompatibleReaderSchema, retryable: false, cause });
  }
}

/** Terminal: the value does not match its schema; `paths` lists the offending fields. */
export class AvroEncodeError extends AvroPayloadError {
  constructor(
    message: string,
    readonly paths: string[],
  ) {
    super(message, { code: AvroPayloadErrorCodes.encodeFailed, retryable: false });
  }
}

/** Terminal: the schema is not valid Avro or the registry refused it for the subject. */
export class SchemaRejectedError extends AvroPayloadError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: AvroPayloadErrorCodes.schemaRejected, retryable: false, cause });
  }
}

/** Retryable: the registry could not answer (unreachable, timeout, 5xx, auth, unexpected answer). */
export class SchemaRegistryUnavailableError extends AvroPayloadError {
  constructor(
    message: string,
    readonly status: number | undefined,
    cause?: unknown,
  ) {
    super(message, { code: AvroPayloadErrorCodes.registryUnavailable, retryable: true, cause });
  }
}
