import type { ObjectDefinition, ServiceDefinition } from "../../sdk/definitions.js";
import { H } from "../../runtime/invocation/headers.js";
import type { RuntimePorts } from "../../runtime/ports.js";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime.js";
import type { Logger } from "../../runtime/support.js";
import { MemoryLog, MemoryTransport } from "./memory_log.js";
import { waitFor } from "./wait.js";

export const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface Reply {
  corr: string;
  status: string;
  value: unknown;
  errorCode?: string;
  errorMessage?: string;
}

/** A runtime over the in-memory log, with helpers to invoke and read replies. */
export class MemoryApp {
  readonly log = new MemoryLog();
  readonly transport: MemoryTransport;
  readonly runtime: Runtime;
  private seq = 0;

  constructor(
    defs: { objects?: ObjectDefinition[]; services?: ServiceDefinition[] },
    options: Partial<RuntimeOptions> = {},
    ports: RuntimePorts = {},
  ) {
    this.log.createTopic("replies", 1);
    this.transport = new MemoryTransport(this.log, "m.invocations", "m.changelog");
    this.runtime = new Runtime({ app: "m", partitions: 2, logger: quietLogger, ...defs, ...options }, this.transport, ports);
  }

  start(): Promise<void> {
    return this.runtime.start();
  }

  /** Produces an invocation record; returns its correlation id. */
  send(
    key: string | null,
    handler: string | null,
    input?: unknown,
    extra: { raw?: Buffer; idempotencyKey?: string; replyTo?: string } = {},
  ): string {
    const corr = `c${++this.seq}`;
    const headers: Record<string, Buffer> = { [H.replyTo]: Buffer.from(extra.replyTo ?? "replies"), [H.correlationId]: Buffer.from(corr) };
    if (handler !== null) headers[H.handler] = Buffer.from(handler);
    if (extra.idempotencyKey) headers[H.idempotencyKey] = Buffer.from(extra.idempotencyKey);
    const value = extra.raw ?? (input === undefined ? null : Buffer.from(JSON.stringify(input)));
    this.log.append("m.invocations", {
      key: key === null ? null : Buffer.from(key),
      value,
      headers,
      ...(key === null ? { partition: 0 } : {}),
    });
    this.log.notify();
    return corr;
  }

  replies(): Reply[] {
    return this.log
      .partitions("replies")
      .flat()
      .map((r) => {
        const h = (n: string) => r.headers[n]?.toString();
        const reply: Reply = {
          corr: h(H.correlationId)!,
          status: h(H.status)!,
          value: r.value && r.value.length ? JSON.parse(r.value.toString()) : undefined,
        };
        if (h(H.errorCode)) reply.errorCode = h(H.errorCode)!;
        if (h(H.errorMessage)) reply.errorMessage = h(H.errorMessage)!;
        return reply;
      });
  }

  async reply(corr: string, timeoutMs = 5_000): Promise<Reply> {
    await waitFor(() => this.replies().some((r) => r.corr === corr), `reply ${corr}`, timeoutMs);
    return this.replies().find((r) => r.corr === corr)!;
  }

  dlq(): Array<{ key: string | null; code: string; message: string; offset: string }> {
    return this.log
      .partitions("m.dlq")
      .flat()
      .map((r) => ({
        key: r.key?.toString() ?? null,
        code: r.headers[H.errorCode]!.toString(),
        message: r.headers[H.errorMessage]!.toString(),
        offset: r.headers[H.dlqSourceOffset]!.toString(),
      }));
  }
}
