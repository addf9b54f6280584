import type { Definition } from "../sdk/definitions.js";
import { handlersOf, isShared } from "../sdk/definitions.js";
import { ConfigurationError } from "../sdk/errors.js";
import { DEFAULT_INVOCATION_RETRY, resolveRetryPolicy, type ResolvedRetryPolicy } from "../sdk/retry.js";
import type { HandlerMode } from "./journal/context_impl.js";

export interface ResolvedHandler {
  fn: (ctx: unknown, input: unknown) => Promise<unknown>;
  mode: HandlerMode;
  retry: ResolvedRetryPolicy;
}

/** The objects and services one runtime hosts, by name. */
export class Registry {
  private readonly byName = new Map<string, Definition>();
  /** target → handler → its resolution (only handlers that exist: unknown names are not kept). */
  private readonly resolved = new Map<string, Map<string, ResolvedHandler>>();

  constructor(
    definitions: Definition[],
    private readonly defaultRetry: ResolvedRetryPolicy = DEFAULT_INVOCATION_RETRY,
  ) {
    for (const def of definitions) {
      if (this.byName.has(def.name))
        throw new ConfigurationError(`two definitions are named "${def.name}"; object and service names must be unique within an app`);
      this.byName.set(def.name, def);
    }
  }

  find(name: string): Definition | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  handler(target: string, handler: string): ResolvedHandler | undefined {
    // Looked up several times per invocation: resolved once per handler (definitions never
    // change after the runtime is created).
    const byHandler = this.resolved.get(target);
    const cached = byHandler?.get(handler);
    if (cached) return cached;
    const def = this.byName.get(target);
    if (!def || !Object.hasOwn(handlersOf(def), handler)) return undefined;
    const value = handlersOf(def)[handler];
    const retry = resolveRetryPolicy(def.options.retry, this.defaultRetry);
    let resolved: ResolvedHandler;
    if (def.kind === "service") resolved = { fn: value as ResolvedHandler["fn"], mode: "service", retry };
    else if (isShared(value)) resolved = { fn: value.fn as ResolvedHandler["fn"], mode: "shared", retry };
    else resolved = { fn: value as ResolvedHandler["fn"], mode: "exclusive", retry };
    if (byHandler) byHandler.set(handler, resolved);
    else this.resolved.set(target, new Map([[handler, resolved]]));
    return resolved;
  }
}
