/**
 * `avro()`: Avro in the Confluent wire format (magic byte, schema registry id, body), for
 * subscription values (`subscribe({ value: avro() })`) and emitted records
 * (`ctx.emit(topic, record, { format: avro({ schema }) })`). The runtime's Schema Registry
 * adapter does the work; this is only the description, so sdk/ stays free of any client.
 */

/** An Avro schema in its JSON form (a record, enum, ... definition or a primitive name). */
export type AvroSchema = object | string;

export interface AvroFormat {
  readonly kind: "avro";
  /**
   * The schema your code works with. In a subscription: the reader schema records are decoded
   * into (schema evolution; default: each record's writer schema). In ctx.emit: the writer
   * schema, required; registered (or looked up) under `subject`.
   */
  readonly schema?: AvroSchema;
  /** ctx.emit only: the registry subject (default `<topic>-value`). */
  readonly subject?: string;
}

export function avro(options: { schema?: AvroSchema; subject?: string } = {}): AvroFormat {
  return Object.freeze({
    kind: "avro" as const,
    ...(options.schema !== undefined && { schema: options.schema }),
    ...(options.subject !== undefined && { subject: options.subject }),
  });
}
