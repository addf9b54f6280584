/**
 * The few calls of the Confluent Schema Registry REST API the payload codec needs, over plain
 * fetch. Plain fetch rather than @kafkajs/confluent-schema-registry because every outcome must
 * map onto a terminal or a retryable error: only a 404 that carries the registry's own error
 * code 40403 means "this id does not exist" (a bare 404 is a wrong base URL, e.g. Apicurio
 * without /apis/ccompat/v7, and must not dead-letter records); timeouts are explicit; the
 * caches above this are bounded (the library's are not).
 */
import { SchemaRegistryUnavailableError, SchemaRejectedError, UnknownSchemaIdError } from "./errors.js";

export interface SchemaRegistryHttpOptions {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  url: string;
  /** Per-request timeout; a request that takes longer fails retryable. Default 10 s. */
  requestTimeoutMs?: number;
  /** Extra headers on every request (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface RegisteredSchema {
  /** The schema text as registered. */
  schema: string;
  /** "AVRO" (also when the registry omits the field, as Confluent does for Avro), "JSON", "PROTOBUF". */
  schemaType: string;
}

/** Confluent error codes (body field `error_code`) the adapter tells apart. */
const CONFLUENT = {
  subjectNotFound: 40401,
  schemaNotFound: 40403,
  invalidSchema: 42201,
  incompatibleSchema: 409,
} as const;

const CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

interface Answer {
  status: number;
  body: unknown;
  errorCode: number | undefined;
  errorMessage: string | undefined;
}

export class SchemaRegistryHttp {
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: SchemaRegistryHttpOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.headers = { Accept: CONTENT_TYPE, ...options.headers };
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** GET /schemas/ids/{id}. Throws UnknownSchemaIdError (terminal) on error 40403. */
  async schemaById(id: number): Promise<RegisteredSchema> {
    const answer = await this.request("GET", `/schemas/ids/${id}`, undefined, `fetch schema id ${id}`);
    if (answer.status === 404 && answer.errorCode === CONFLUENT.schemaNotFound) throw new UnknownSchemaIdError(id, this.url);
    const body = this.expectOk(answer, `fetch schema id ${id}`) as { schema?: unknown; schemaType?: unknown };
    if (typeof body.schema !== "string") throw this.unexpected(`fetch schema id ${id}`, answer, "no string field `schema`");
    return { schema: body.schema, schemaType: typeof body.schemaType === "string" ? body.schemaType : "AVRO" };
  }

  /** POST /subjects/{subject}/versions: registers (idempotently) and returns the schema id. */
  async register(subject: string, schemaText: string): Promise<number> {
    const what = `register a schema under subject "${subject}"`;
    const answer = await this.request(
      "POST",
      `/subjects/${encodeURIComponent(subject)}/versions`,
      { schema: schemaText, schemaType: "AVRO" },
      what,
    );
    this.throwIfRejected(answer, subject, what);
    return this.idOf(answer, what);
  }

  /** POST /subjects/{subject}: the id of a schema already registered under the subject. */
  async lookup(subject: string, schemaText: string): Promise<number> {
    const what = `look up the schema of subject "${subject}"`;
    const answer = await this.request("POST", `/subjects/${encodeURIComponent(subject)}`, { schema: schemaText, schemaType: "AVRO" }, what);
    if (answer.status === 404 && (answer.errorCode === CONFLUENT.subjectNotFound || answer.errorCode === CONFLUENT.schemaNotFound)) {
      throw new SchemaRejectedError(
        `the schema is not registered under subject "${subject}" in the Schema Registry at ${this.url} (${answer.errorMessage ?? `error ${answer.errorCode}`}); ` +
          `register it (e.g. in the producer's deployment) or let the codec register schemas (autoRegister: true)`,
      );
    }
    this.throwIfRejected(answer, subject, what);
    return this.idOf(answer, what);
  }

  private throwIfRejected(answer: Answer, subject: string, what: string): void {
    const incompatible = answer.status === 409;
    const invalid = answer.status === 422 || answer.errorCode === CONFLUENT.invalidSchema;
    if (!incompatible && !invalid) return;
    throw new SchemaRejectedError(
      `the Schema Registry at ${this.url} refused to ${what}: ` +
        (incompatible
          ? "the schema is incompatible with the subject's earlier versions under its compatibility rule"
          : "the schema is invalid") +
        ` (HTTP ${answer.status}, ${answer.errorMessage ?? "no message"}); ` +
        (incompatible
          ? `evolve the schema compatibly (new fields need defaults) or change the subject's compatibility (PUT /config/${subject})`
          : "fix the schema"),
    );
  }

  private idOf(answer: Answer, what: string): number {
    const body = this.expectOk(answer, what) as { id?: unknown };
    if (typeof body.id !== "number" || !Number.isInteger(body.id)) throw this.unexpected(what, answer, "no integer field `id`");
    return body.id;
  }

  private expectOk(answer: Answer, what: string): object {
    if (answer.status >= 200 && answer.status < 300 && answer.body !== null && typeof answer.body === "object") return answer.body;
    if (answer.status === 404 && answer.errorCode === undefined) {
      throw new SchemaRegistryUnavailableError(
        `could not ${what}: ${this.url} answered 404 without a Schema Registry error code, so it is probably not the registry's Confluent API; ` +
          `check KVO_SCHEMA_REGISTRY_URL (Apicurio serves it under /apis/ccompat/v7)`,
        404,
      );
    }
    throw this.unexpected(what, answer, answer.errorMessage ?? "");
  }

  /** Everything not understood as being about the schema or record is the registry's problem: retryable. */
  private unexpected(what: string, answer: Answer, detail: string): SchemaRegistryUnavailableError {
    const code = answer.errorCode === undefined ? "" : `, error ${answer.errorCode}`;
    const hint =
      answer.status === 401 || answer.status === 403
        ? "check the registry credentials (headers option)"
        : answer.status >= 500
          ? "the registry is failing; it is retried"
          : "check that the URL points at a Confluent-compatible Schema Registry";
    return new SchemaRegistryUnavailableError(
      `could not ${what}: the Schema Registry at ${this.url} answered HTTP ${answer.status}${code}${detail ? ` (${detail})` : ""}; ${hint}`,
      answer.status,
    );
  }

  private async request(method: "GET" | "POST", path: string, body: object | undefined, what: string): Promise<Answer> {
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(this.url + path, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, "Content-Type": CONTENT_TYPE },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (cause) {
      const reason =
        cause instanceof Error && cause.name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : describeFetchFailure(cause);
      throw new SchemaRegistryUnavailableError(
        `could not ${what}: the Schema Registry at ${this.url} is unreachable (${reason}); the operation is retried. ` +
          `Check that the registry runs (npm run infra:status) and KVO_SCHEMA_REGISTRY_URL`,
        undefined,
        cause,
      );
    }
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null; // an HTML error page or similar: classified by status below
    }
    const errorBody = parsed !== null && typeof parsed === "object" ? (parsed as { error_code?: unknown; message?: unknown }) : {};
    return {
      status: res.status,
      body: parsed,
      errorCode: typeof errorBody.error_code === "number" ? errorBody.error_code : undefined,
      errorMessage: typeof errorBody.message === "string" ? errorBody.message : undefined,
    };
  }
}

/** Node's fetch fails with "fetch failed" and the real reason (ECONNREFUSED ...) in `cause`. */
function describeFetchFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === "string") return `${err.message}: ${cause.code}`;
  if (cause && typeof cause.message === "string") return `${err.message}: ${cause.message}`;
  return err.message;
}
