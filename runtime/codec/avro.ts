import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import avro from "avsc";
import { KvoError, SerializationError } from "../../sdk/errors.js";

/**
 * Internal records are Avro with a one-byte prefix naming the writer's schema version.
 * A reader decodes any version it knows into the current one through avsc's schema
 * resolution, so a process on version N+1 reads what version N wrote during a rolling
 * upgrade. Adding a version: add `<family>.v<N>.avsc` (new fields need defaults) and list it.
 */
const SCHEMA_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));

function loadSchema(file: string): unknown {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, "utf8"));
}

/** Shared named types (kvo.v1.Failure) referenced by the record schemas. */
function sharedRegistry(): Record<string, avro.Type> {
  const registry: Record<string, avro.Type> = {};
  avro.Type.forSchema(loadSchema("failure.v1.avsc") as avro.Schema, { registry });
  return registry;
}

/**
 * Versions are bumped one at a time, so a record written by a newer KVO carries a version a
 * little above ours. A first byte far above it (e.g. 123, a '{') is no KVO record at all:
 * that is corruption, not an upgrade to wait for.
 */
const NEWER_VERSION_WINDOW = 16;

/**
 * A record written by a newer KVO version than this process. Not corruption: the data is fine,
 * this process is too old to read it. Processes must be upgraded before they read it.
 */
export class NewerSchemaVersionError extends KvoError {
  constructor(
    readonly family: string,
    readonly version: number,
    readonly readable: number,
  ) {
    super(
      `${family} record has schema version ${version}, written by a newer KVO; this process reads versions up to ${readable}. ` +
        `Upgrade this process (every process of the app) before it reads data written by a newer one.`,
      { code: "newer_schema_version", retryable: false },
    );
  }
}

/** Records up to this size are encoded without an intermediate buffer (see encodeWith). */
const SCRATCH_BYTES = 64 * 1024;

export class VersionedCodec<T> {
  private readonly current: avro.Type;
  private readonly currentVersion: number;
  private readonly resolvers = new Map<number, { writer: avro.Type; resolver: avro.Resolver | null }>();
  /** Where records are encoded before being copied out (one per codec; encoding is synchronous). */
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  constructor(
    readonly family: string,
    versions: Record<number, unknown>,
  ) {
    const numbers = Object.keys(versions)
      .map(Number)
      .sort((a, b) => a - b);
    const latest = numbers[numbers.length - 1];
    if (latest === undefined || latest < 1 || latest > 255) throw new Error(`codec ${family}: no valid schema version`);
    this.currentVersion = latest;
    this.current = avro.Type.forSchema(versions[latest] as avro.Schema, { registry: sharedRegistry() });
    for (const v of numbers) {
      if (v === latest) {
        this.resolvers.set(v, { writer: this.current, resolver: null });
      } else {
        const writer = avro.Type.forSchema(versions[v] as avro.Schema, { registry: sharedRegistry() });
        this.resolvers.set(v, { writer, resolver: this.current.createResolver(writer) });
      }
    }
  }

  encode(value: T): Buffer {
    return this.encodeWith(this.currentVersion, this.current, value);
  }

  /**
   * Encodes with an older schema version, for a record that version represents fully (the
   * caller decides, see records.ts): a process that reads only that version can still read
   * it, during a rolling upgrade or after a rollback.
   */
  encodeAs(version: number, value: T): Buffer {
    const known = this.resolvers.get(version);
    if (!known) throw new Error(`codec ${this.family}: no schema version ${version} (known: ${[...this.resolvers.keys()].join(", ")})`);
    return this.encodeWith(version, known.writer, value);
  }

  private encodeWith(version: number, type: avro.Type, value: T): Buffer {
    try {
      // Most records fit the scratch buffer: encoded there behind the version byte, then copied
      // once into a buffer of the exact size (toBuffer would allocate and copy once more).
      const end = type.encode(value, this.scratch, 1);
      if (end >= 0) {
        const out = Buffer.allocUnsafe(end);
        this.scratch.copy(out, 0, 0, end);
        out[0] = version;
        return out;
      }
      const body = type.toBuffer(value); // larger than the scratch buffer
      const out = Buffer.allocUnsafe(body.length + 1);
      out[0] = version;
      body.copy(out, 1);
      return out;
    } catch (cause) {
      throw new SerializationError(`cannot encode ${this.family} record (version ${version}): ${(cause as Error).message}`, { cause });
    }
  }

  decode(bytes: Buffer): T {
    const version = bytes[0];
    const known = version === undefined ? undefined : this.resolvers.get(version);
    if (!known && version !== undefined && version > this.currentVersion && version <= this.currentVersion + NEWER_VERSION_WINDOW) {
      throw new NewerSchemaVersionError(this.family, version, this.currentVersion);
    }
    if (!known) {
      throw new SerializationError(
        `${this.family} record starts with byte ${version ?? "(empty record)"}, which is no schema version of any KVO release ` +
          `(this process reads ${[...this.resolvers.keys()].join(", ")}): the record is corrupt or was not written by KVO.`,
      );
    }
    try {
      const body = bytes.subarray(1);
      return (known.resolver ? this.current.fromBuffer(body, known.resolver) : this.current.fromBuffer(body)) as T;
    } catch (cause) {
      throw new SerializationError(`cannot decode ${this.family} record (version ${version}): ${(cause as Error).message}`, { cause });
    }
  }
}

/** Builds a codec from schema files: `{ 1: "invocation.v1.avsc" }`. */
export function codecFromFiles<T>(family: string, files: Record<number, string>): VersionedCodec<T> {
  const versions: Record<number, unknown> = {};
  for (const [v, file] of Object.entries(files)) versions[Number(v)] = loadSchema(file);
  return new VersionedCodec<T>(family, versions);
}
