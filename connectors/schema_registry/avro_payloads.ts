/**
 * AvroPayloads over a Confluent-compatible Schema Registry: decodes by the writer schema id in
 * each record's frame (optionally resolved into a reader schema), encodes with a schema that it
 * registers (or looks up) under a subject.
 *
 * Caches, all bounded LRUs (producers choose the ids, so nothing may grow without bound):
 *  - writer types by schema id: a schema id is immutable in a registry, so a hit never goes stale;
 *  - resolvers by (writer id, reader schema);
 *  - parsed schemas by their JSON text (and by object identity, to skip re-stringifying);
 *  - schema ids by (subject, schema text), for encode.
 * Concurrent misses for the same key share one request. Failures are not cached: the next call
 * asks the registry again.
 */
import avro from "avsc";
import type { AvroPayloads, AvroSchema, DecodedAvroPayload } from "../../runtime/payload/avro_port.js";
import { avroProblems, avroTypeName } from "../../runtime/payload/avro_validation.js";
import { AvroDecodeError, AvroEncodeError, IncompatibleReaderSchemaError, NotAvroError, SchemaRejectedError } from "./errors.js";
import { LruCache } from "./lru.js";
import { SchemaRegistryHttp, type SchemaRegistryHttpOptions } from "./registry_http.js";
import { frame, unframe } from "./wire_format.js";

export interface SchemaRegistryAvroPayloadsOptions extends SchemaRegistryHttpOptions {
  /** Capacity of each cache (writer schemas, resolvers, parsed schemas, subject ids). Default 1,000. */
  cacheSize?: number;
  /**
   * encode(): register the schema under its subject (idempotent; true, the default) or only look
   * up an id registered by someone else (false; an unregistered schema is then a terminal
   * `schema_rejected`), for registries where applications may not register.
   */
  autoRegister?: boolean;
}

/**
 * Writer and reader types are parsed alike, so resolution sees the same shapes: unions whose
 * branches are distinguishable in JS come out as the bare value, others wrapped as
 * `{ "<branch name>": value }` (docs/schema-registry.md, "Application payloads").
 */
function parseAvro(schema: unknown): avro.Type {
  // A fresh options object each time: avsc stores its registry of named types in it, and a
  // shared one would make a second schema defining the same name fail ("duplicate type name").
  return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: "auto" });
}

interface ParsedSchema {
  type: avro.Type;
  /** The schema's JSON text: what is registered, and the cache key. */
  text: string;
  /** Small per-parse number, for compact resolver keys. */
  handle: number;
}

export class SchemaRegistryAvroPayloads implements AvroPayloads {
  readonly registry: SchemaRegistryHttp;
  private readonly autoRegister: boolean;
  private readonly writers: LruCache<number, avro.Type>;
  private readonly pendingWriters = new Map<number, Promise<avro.Type>>();
  private readonly resolvers: LruCache<string, avro.Resolver>;
  private readonly parsedByText: LruCache<string, ParsedSchema>;
  private readonly parsedByObject = new WeakMap<object, ParsedSchema>();
  private readonly subjectIds: LruCache<string, number>;
  private readonly pendingSubjectIds = new Map<string, Promise<number>>();
  private nextHandle = 1;

  constructor(options: SchemaRegistryAvroPayloadsOptions) {
    this.registry = new SchemaRegistryHttp(options);
    this.autoRegister = options.autoRegister ?? true;
    const size = options.cacheSize ?? 1_000;
    this.writers = new LruCache(size);
    this.resolvers = new LruCache(size);
    this.parsedByText = new LruCache(size);
    this.subjectIds = new LruCache(size);
  }

  async decode(bytes: Buffer, readerSchema?: AvroSchema): Promise<DecodedAvroPayload> {
    const { schemaId, body } = unframe(bytes);
    return this.decodeBody(await this.writerType(schemaId), schemaId, body, readerSchema);
  }

  decodeIfCached(bytes: Buffer, readerSchema?: AvroSchema): DecodedAvroPayload | undefined {
    const { schemaId, body } = unframe(bytes);
    const writer = this.writers.get(schemaId);
    return writer === undefined ? undefined : this.decodeBody(writer, schemaId, body, readerSchema);
  }

  private decodeBody(writer: avro.Type, schemaId: number, body: Buffer, readerSchema: AvroSchema | undefined): DecodedAvroPayload {
    if (readerSchema === undefined) {
      return { value: readBody(writer, body, undefined, schemaId), writerSchemaId: schemaId };
    }
    const reader = this.parse(readerSchema, "the reader schema");
    const key = `${schemaId}/${reader.handle}`;
    let resolver = this.resolvers.get(key);
    if (resolver === undefined) {
      try {
        resolver = reader.type.createResolver(writer);
      } catch (cause) {
        throw new IncompatibleReaderSchemaError(
          `writer schema id ${schemaId} cannot be resolved into the reader schema ${avroTypeName(reader.type)}: ${(cause as Error).message}. ` +
            `Under Avro schema resolution the reader may add fields only with defaults, must keep names (or list the old ones as aliases) ` +
            `and may only promote numeric types; evolve the reader schema or have the producer write a compatible schema`,
          cause,
        );
      }
      this.resolvers.set(key, resolver);
    }
    return { value: readBody(reader.type, body, resolver, schemaId), writerSchemaId: schemaId };
  }

  async encode(subject: string, schema: AvroSchema, value: unknown): Promise<Buffer> {
    const parsed = this.parse(schema, `the schema for subject "${subject}"`);
    const invalid = avroProblems(parsed.type, value, Number.MAX_SAFE_INTEGER);
    if (invalid) {
      throw new AvroEncodeError(
        `value does not match the Avro schema ${avroTypeName(parsed.type)} for subject "${subject}": ${invalid.problems.join("; ")}. ` +
          `Fix the value (or the schema) so that every field has the declared type`,
        invalid.paths,
      );
    }
    const id = await this.schemaIdFor(subject, parsed.text);
    // Validated above, so toBuffer cannot fail on the value's shape.
    return frame(id, parsed.type.toBuffer(value));
  }

  private async writerType(id: number): Promise<avro.Type> {
    const cached = this.writers.get(id);
    if (cached !== undefined) return cached;
    let pending = this.pendingWriters.get(id);
    if (pending === undefined) {
      pending = this.fetchWriterType(id).finally(() => this.pendingWriters.delete(id));
      this.pendingWriters.set(id, pending);
    }
    return pending;
  }

  private async fetchWriterType(id: number): Promise<avro.Type> {
    const registered = await this.registry.schemaById(id);
    if (registered.schemaType.toUpperCase() !== "AVRO") {
      throw new NotAvroError(
        `schema id ${id} in the record's frame is a ${registered.schemaType} schema, not Avro; ` +
          `this consumer decodes Avro only: have the producer use an Avro serializer or route the topic elsewhere`,
      );
    }
    let type: avro.Type;
    try {
      type = parseAvro(JSON.parse(registered.schema));
    } catch (cause) {
      throw new AvroDecodeError(
        `writer schema id ${id} from the Schema Registry at ${this.registry.url} is not an Avro schema this codec can parse: ${(cause as Error).message}`,
        cause,
      );
    }
    this.writers.set(id, type);
    return type;
  }

  private async schemaIdFor(subject: string, text: string): Promise<number> {
    const key = `${subject}\u0000${text}`;
    const cached = this.subjectIds.get(key);
    if (cached !== undefined) return cached;
    let pending = this.pendingSubjectIds.get(key);
    if (pending === undefined) {
      const request = this.autoRegister ? this.registry.register(subject, text) : this.registry.lookup(subject, text);
      pending = request
        .then((id) => {
          this.subjectIds.set(key, id);
          return id;
        })
        .finally(() => this.pendingSubjectIds.delete(key));
      this.pendingSubjectIds.set(key, pending);
    }
    return pending;
  }

  /** Parses (once) a schema the caller passed; an invalid one is the caller's bug: terminal. */
  private parse(schema: AvroSchema, what: string): ParsedSchema {
    const isObject = typeof schema === "object" && schema !== null;
    if (isObject) {
      const known = this.parsedByObject.get(schema);
      if (known !== undefined) return known;
    }
    const text = JSON.stringify(schema);
    let parsed = this.parsedByText.get(text);
    if (parsed === undefined) {
      let type: avro.Type;
      try {
        type = parseAvro(schema);
      } catch (cause) {
        throw new SchemaRejectedError(`${what} is not a valid Avro schema: ${(cause as Error).message}`, cause);
      }
      parsed = { type, text, handle: this.nextHandle++ };
      this.parsedByText.set(text, parsed);
    }
    // Objects are assumed not to be mutated after first use (schemas are constants).
    if (isObject) this.parsedByObject.set(schema, parsed);
    return parsed;
  }
}

function readBody(type: avro.Type, body: Buffer, resolver: avro.Resolver | undefined, schemaId: number): unknown {
  try {
    // fromBuffer also rejects trailing bytes, so a body written with another schema rarely passes.
    return type.fromBuffer(body, resolver);
  } catch (cause) {
    const message = (cause as Error).message;
    const reason =
      message === "potential precision loss"
        ? `it holds a long outside JavaScript's safe integer range (±(2^53 − 1)), which KVO refuses rather than round; ` +
          `have the producer use a string or a decimal for such values, or the field a double in the reader schema`
        : `${message}; the bytes do not match the schema id in the record's frame (a producer bug or corrupted record)`;
    throw new AvroDecodeError(`record body does not decode with its writer schema id ${schemaId}: ${reason}`, cause);
  }
}
