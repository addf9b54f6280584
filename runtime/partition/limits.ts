import { KvoError } from "../../sdk/errors.js";

/**
 * Largest value the runtime writes to Kafka in one record. Kafka refuses records above
 * max.message.bytes (1 MB by default) and a refused record would fail every retry of the
 * transaction that carries it, stalling the process; so oversized values are refused where
 * they are made, failing the one invocation instead. The default leaves room for key and
 * headers under the 1 MB broker default.
 */
export const DEFAULT_MAX_RECORD_BYTES = 900_000;

export class RecordTooLargeError extends KvoError {
  constructor(what: string, bytes: number, limit: number) {
    super(
      `${what} is ${bytes} bytes, above the limit of ${limit} bytes per record (runtime option maxRecordBytes, ` +
        `bounded by Kafka's max.message.bytes). Keep large payloads outside Kafka and store a reference instead.`,
      { code: "record_too_large", retryable: false },
    );
  }
}
