/**
 * An in-process fake of the Confluent Schema Registry REST API (the calls the payload codec
 * makes), on 127.0.0.1 with a random port, for unit tests of connectors/schema_registry/.
 * Ids are content ids like Apicurio's: one per distinct schema text, shared across subjects.
 * It records every request so tests can assert on caching, and can be switched to fail.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRequest {
  method: string;
  path: string;
}

export class FakeSchemaRegistry {
  readonly requests: FakeRequest[] = [];
  /** When set, every request is answered with this status (e.g. 503) and a Confluent error body. */
  failWith: number | undefined;
  private readonly idsByText = new Map<string, number>();
  private readonly schemas = new Map<number, { schema: string; schemaType?: string }>();
  private readonly subjects = new Map<string, number[]>();
  private nextId = 1;
  private server: Server | undefined;
  private port = 0;

  /** Base URL like a real registry's Confluent API root. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/apis/ccompat/v7`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Registers directly (no request recorded), like another producer did earlier. */
  add(schema: object | string, options: { subject?: string; schemaType?: string } = {}): number {
    const text = typeof schema === "string" ? schema : JSON.stringify(schema);
    let id = this.idsByText.get(text);
    if (id === undefined) {
      id = this.nextId++;
      this.idsByText.set(text, id);
      this.schemas.set(id, options.schemaType === undefined ? { schema: text } : { schema: text, schemaType: options.schemaType });
    }
    if (options.subject !== undefined) {
      const versions = this.subjects.get(options.subject) ?? [];
      if (!versions.includes(id)) versions.push(id);
      this.subjects.set(options.subject, versions);
    }
    return id;
  }

  requestsTo(prefix: string): FakeRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").replace(/^\/apis\/ccompat\/v7/, "");
    this.requests.push({ method, path });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/vnd.schemaregistry.v1+json" });
      res.end(JSON.stringify(body));
    };
    if (this.failWith !== undefined) return send(this.failWith, { error_code: this.failWith * 100, message: "fake registry failure" });
    if (!(req.url ?? "").startsWith("/apis/ccompat/v7/")) {
      res.writeHead(404);
      return void res.end();
    }

    const byId = /^\/schemas\/ids\/(-?\d+)$/.exec(path);
    if (method === "GET" && byId) {
      const found = this.schemas.get(Number(byId[1]));
      return found ? send(200, found) : send(404, { error_code: 40403, message: `No content with ID '${byId[1]}' was found.` });
    }
    const subjectPath = /^\/subjects\/([^/]+)(\/versions)?$/.exec(path);
    if (method === "POST" && subjectPath) {
      const subject = decodeURIComponent(subjectPath[1] ?? "");
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { schema: string };
      try {
        JSON.parse(body.schema);
      } catch {
        return send(422, { error_code: 42201, message: "Invalid schema" });
      }
      if (subjectPath[2]) return send(200, { id: this.add(body.schema, { subject }) });
      const id = this.idsByText.get(body.schema);
      if (!this.subjects.has(subject)) return send(404, { error_code: 40401, message: `Subject '${subject}' not found.` });
      if (id === undefined || !this.subjects.get(subject)?.includes(id))
        return send(404, { error_code: 40403, message: "Schema not found" });
      return send(200, { subject, id, version: 1, schema: body.schema });
    }
    send(404, { error_code: 404, message: `fake registry: no route ${method} ${path}` });
  }
}
