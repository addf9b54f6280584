import type {
  ObjectContext,
  ServiceContext,
  SharedObjectContext,
  StateShape,
  UntypedState,
  WorkflowContext,
  WorkflowSharedContext,
} from "./context.js";
import { ConfigurationError } from "./errors.js";
import { DEFAULT_INVOCATION_RETRY, resolveRetryPolicy, validateAttemptTimeout, type RetryPolicy } from "./retry.js";

/* eslint-disable @typescript-eslint/no-explicit-any */

export type ExclusiveHandler<S extends StateShape> = (ctx: ObjectContext<S>, input: any) => Promise<any>;
export type SharedHandlerFn<S extends StateShape> = (ctx: SharedObjectContext<S>, input: any) => Promise<any>;
export type ServiceHandler = (ctx: ServiceContext, input: any) => Promise<any>;

/** Marks a handler as shared: it runs concurrently with others on the same key, read-only. */
export interface SharedHandler<F> {
  readonly kind: "shared";
  readonly fn: F;
}

/**
 * A shared handler's context type comes from its own shared() call (contextually inferred from
 * the enclosing object where TypeScript can), so any shared handler is accepted here.
 */
export type ObjectHandlers<S extends StateShape> = Record<
  string,
  ExclusiveHandler<S> | SharedHandler<(ctx: any, input: any) => Promise<any>>
>;
export type ServiceHandlers = Record<string, ServiceHandler>;

/** Phantom carrier of a state type: `state: stateOf<{ count: number }>()`. */
export interface StateType<S extends StateShape> {
  readonly __state?: S;
}

/** Options of one handler, in a definition's `options.handlers.<name>`; they override the definition's. */
export interface PerHandlerOptions {
  /** Longest one attempt of this handler may run (see HandlerOptions.attemptTimeoutMs). */
  attemptTimeoutMs?: number;
}

/** Options of an object or service definition, for all of its handlers. */
export interface HandlerOptions<H = Record<string, unknown>> {
  /** Retries of the whole invocation after a retryable failure. */
  retry?: RetryPolicy;
  /**
   * Longest one attempt may run, ms. A longer attempt is abandoned (its context dies and the
   * AbortSignal of its ctx.run actions aborts) and fails with the retryable `attempt_timeout`,
   * so it goes through `retry`. Default: the runtime's `attemptTimeoutMs` (5 minutes).
   */
  attemptTimeoutMs?: number;
  /** Per-handler overrides, by handler name: `handlers: { export: { attemptTimeoutMs: 600_000 } }`. */
  handlers?: { [K in keyof H & string]?: PerHandlerOptions };
}

export interface ObjectDefinition<N extends string = string, S extends StateShape = any, H extends ObjectHandlers<S> = any> {
  readonly kind: "object";
  readonly name: N;
  readonly handlers: H;
  readonly options: HandlerOptions<H>;
  /**
   * Set by workflow(): `run` executes once per key (workflow id); a later `run` of the same id
   * gets the first one's outcome. The other handlers are shared.
   */
  readonly workflow?: boolean;
  readonly __state?: S;
}

export interface ServiceDefinition<N extends string = string, H extends ServiceHandlers = any> {
  readonly kind: "service";
  readonly name: N;
  readonly handlers: H;
  readonly options: HandlerOptions<H>;
}

export type Definition = ObjectDefinition | ServiceDefinition;

/** A definition's handlers by name, as untyped values (for code that dispatches by name). */
export function handlersOf(def: Definition): Readonly<Record<string, unknown>> {
  return def.handlers as Record<string, unknown>;
}

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;

function checkNames(kind: string, name: string, handlers: Record<string, unknown>): void {
  if (!NAME_PATTERN.test(name)) {
    throw new TypeError(`${kind} name "${name}" is invalid: use a letter followed by letters, digits, '_', '.' or '-' (max 128)`);
  }
  const handlerNames = Object.keys(handlers);
  if (handlerNames.length === 0) throw new TypeError(`${kind} "${name}" declares no handlers`);
  for (const h of handlerNames) {
    if (!NAME_PATTERN.test(h))
      throw new TypeError(`handler "${name}.${h}" has an invalid name: use a letter followed by letters, digits, '_', '.' or '-'`);
    const value = handlers[h];
    const fn = isShared(value) ? value.fn : value;
    if (typeof fn !== "function") throw new TypeError(`handler "${name}.${h}" is not a function`);
  }
}

/** Checks a definition's options at definition time, so a bad policy never reaches a running partition. */
function checkOptions(kind: string, name: string, handlers: Record<string, unknown>, options: HandlerOptions): void {
  resolveRetryPolicy(options.retry, DEFAULT_INVOCATION_RETRY, `${kind} ${name} options.retry`);
  if (options.attemptTimeoutMs !== undefined) validateAttemptTimeout(options.attemptTimeoutMs, `${kind} ${name} options.attemptTimeoutMs`);
  for (const [handler, own] of Object.entries(options.handlers ?? {})) {
    if (!Object.hasOwn(handlers, handler)) {
      throw new ConfigurationError(
        `${kind} ${name} options.handlers names "${handler}", which is not one of its handlers (${Object.keys(handlers).join(", ")})`,
      );
    }
    const timeout = own?.attemptTimeoutMs;
    if (timeout !== undefined) validateAttemptTimeout(timeout, `${kind} ${name} options.handlers.${handler}.attemptTimeoutMs`);
  }
}

/**
 * The attempt timeout a handler declares: its own, else its definition's; undefined when
 * neither sets one (the runtime's default applies).
 */
export function declaredAttemptTimeout(def: Definition, handler: string): number | undefined {
  const own: PerHandlerOptions | undefined = def.options.handlers?.[handler];
  return own?.attemptTimeoutMs ?? def.options.attemptTimeoutMs;
}

export function isShared(value: unknown): value is SharedHandler<unknown> {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "shared";
}

/** Returns a phantom value that types an object's state. */
export function stateOf<S extends StateShape>(): StateType<S> {
  return {};
}

/**
 * A keyed virtual object. Exclusive handlers (plain functions) run one at a time per key in
 * arrival order; handlers wrapped in shared() run concurrently and read-only.
 */
export function object<const N extends string, H extends ObjectHandlers<S>, S extends StateShape = UntypedState>(def: {
  name: N;
  state?: StateType<S>;
  handlers: H;
  options?: HandlerOptions<H>;
}): ObjectDefinition<N, S, H> {
  checkNames("object", def.name, def.handlers);
  checkOptions("object", def.name, def.handlers, def.options ?? {});
  return Object.freeze({ kind: "object", name: def.name, handlers: def.handlers, options: def.options ?? {} });
}

/** Names the runtime keeps for itself in a workflow's state (its run outcome, its durable promises). */
export const RESERVED_STATE_PREFIX = "$kvo.";

export type WorkflowRun<S extends StateShape> = (ctx: WorkflowContext<S>, input: any) => Promise<any>;
export type WorkflowHandler<S extends StateShape> = (ctx: WorkflowSharedContext<S>, input: any) => Promise<any>;

/**
 * A workflow: an object whose key is the workflow id. `run` executes once per id, exclusively
 * (a second `run` of the same id, even after it finished, gets the first one's outcome: kept
 * in the object's state until cleared). `handlers` are shared handlers that query its state
 * and signal it through durable promises (`ctx.promise(name).resolve(value)`, awaited by `run`
 * with `await ctx.promise(name).get()`). Call it like an object: `client.object(wf, id).run(x)`.
 */
export function workflow<
  const N extends string,
  R extends WorkflowRun<S>,
  H extends Record<string, WorkflowHandler<S>>,
  S extends StateShape = UntypedState,
>(def: {
  name: N;
  state?: StateType<S>;
  run: R;
  handlers?: H;
  options?: HandlerOptions<{ run: R } & H>;
}): ObjectDefinition<N, S, { run: R } & { [K in keyof H]: SharedHandler<H[K]> }> {
  const handlers: Record<string, unknown> = { run: def.run };
  for (const [name, fn] of Object.entries(def.handlers ?? {})) {
    if (name === "run") throw new TypeError(`workflow "${def.name}": "run" is the workflow itself; name the other handlers differently`);
    handlers[name] = Object.freeze({ kind: "shared" as const, fn });
  }
  checkNames("workflow", def.name, handlers);
  checkOptions("workflow", def.name, handlers, def.options ?? {});
  return Object.freeze({
    kind: "object",
    name: def.name,
    handlers: handlers as { run: R } & { [K in keyof H]: SharedHandler<H[K]> },
    options: def.options ?? {},
    workflow: true,
  });
}

/** Keyless handlers with durable steps and no state. */
export function service<const N extends string, H extends ServiceHandlers>(def: {
  name: N;
  handlers: H;
  options?: HandlerOptions<H>;
}): ServiceDefinition<N, H> {
  checkNames("service", def.name, def.handlers);
  checkOptions("service", def.name, def.handlers, def.options ?? {});
  return Object.freeze({ kind: "service", name: def.name, handlers: def.handlers, options: def.options ?? {} });
}

/** Declares a read-only handler that may run concurrently with others on the same key. */
export function shared<S extends StateShape = UntypedState, A extends [input?: any] = [], O = unknown>(
  fn: (ctx: SharedObjectContext<S>, ...args: A) => Promise<O>,
): SharedHandler<(ctx: SharedObjectContext<S>, ...args: A) => Promise<O>> {
  return Object.freeze({ kind: "shared" as const, fn });
}

type HandlerFn<V> = V extends SharedHandler<infer F> ? F : V;
/** Input type of a handler (the second parameter; `void` when it takes none). */
export type HandlerInput<V> = HandlerFn<V> extends (ctx: any, ...rest: infer R) => any ? (R extends [] ? void : R[0]) : never;
/** Resolved output type of a handler. */
export type HandlerOutput<V> = HandlerFn<V> extends (...args: any[]) => infer O ? Awaited<O> : never;

/** A typed client of a definition: one method per handler, input → Promise<output>. */
export type ClientOf<D extends Definition> = {
  [K in keyof D["handlers"] & string]: HandlerInput<D["handlers"][K]> extends void
    ? (input?: HandlerInput<D["handlers"][K]>) => Promise<HandlerOutput<D["handlers"][K]>>
    : (input: HandlerInput<D["handlers"][K]>) => Promise<HandlerOutput<D["handlers"][K]>>;
};
