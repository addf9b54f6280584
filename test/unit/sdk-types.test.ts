import { describe, expect, expectTypeOf, it } from "vitest";
import { object, service, shared, stateOf, TerminalError, toKvoError, UnknownError, workflow } from "../../index.js";
import type { ClientOf, DurablePromise, SharedObjectContext } from "../../index.js";

type CounterState = { count: number; label: string };

const counter = object({
  name: "Counter",
  state: stateOf<CounterState>(),
  handlers: {
    add: async (ctx, delta: number) => {
      const current = (await ctx.get("count")) ?? 0;
      ctx.set("count", current + delta);
      return current + delta;
    },
    reset: async (ctx) => {
      ctx.clearAll();
    },
    current: shared(async (ctx: SharedObjectContext<CounterState>) => (await ctx.get("count")) ?? 0),
    peek: shared(async (ctx, name: string) => (await ctx.get<number>(name)) ?? 0),
  },
});

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is tested
const untyped = object({
  name: "Free",
  handlers: {
    put: async (ctx, v: { name: string; value: number }) => {
      ctx.set(v.name, v.value);
      return (await ctx.get<number>(v.name)) ?? 0;
    },
  },
});

const greeter = service({
  name: "Greeter",
  handlers: { greet: async (_ctx, who: string) => `hello ${who}` },
});

describe("sdk definitions", () => {
  it("derives typed clients from definitions", () => {
    type C = ClientOf<typeof counter>;
    expectTypeOf<C["add"]>().toEqualTypeOf<(input: number) => Promise<number>>();
    expectTypeOf<Parameters<C["reset"]>>().toEqualTypeOf<[input?: void]>();
    type G = ClientOf<typeof greeter>;
    expectTypeOf<G["greet"]>().toEqualTypeOf<(input: string) => Promise<string>>();
    type F = ClientOf<typeof untyped>;
    expectTypeOf<ReturnType<F["put"]>>().toEqualTypeOf<Promise<number>>();
    expect(counter.kind).toBe("object");
    expect(greeter.kind).toBe("service");
  });

  it("rejects invalid names with a clear message", () => {
    expect(() => object({ name: "bad name", handlers: { a: async () => 1 } })).toThrow(/object name "bad name" is invalid/);
    expect(() => service({ name: "S", handlers: {} })).toThrow(/declares no handlers/);
    expect(() => object({ name: "O", handlers: { "x y": async () => 1 } })).toThrow(/handler "O.x y" has an invalid name/);
  });

  it("normalises unknown throws", () => {
    const e = toKvoError(new TypeError("boom"));
    expect(e).toBeInstanceOf(UnknownError);
    expect(e.code).toBe("unknown");
    expect(e.retryable).toBe(true);
    expect(toKvoError("str").message).toContain("str");
    const t = new TerminalError("no");
    expect(toKvoError(t)).toBe(t);
    expect(t.retryable).toBe(false);
  });
});

describe("shared handler typing", () => {
  it("keeps input and output types of shared handlers", () => {
    type C = ClientOf<typeof counter>;
    expectTypeOf<C["current"]>().toEqualTypeOf<(input?: void) => Promise<number>>();
    expectTypeOf<C["peek"]>().toEqualTypeOf<(input: string) => Promise<number>>();
  });
});

describe("calls between handlers are typed from the definition", () => {
  it("derives inputs and outputs of ctx.object, ctx.service and ctx.send, and workflow contexts", () => {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is tested
    const caller = object({
      name: "Caller",
      handlers: {
        go: async (ctx) => {
          const added = ctx.object(counter, "c1").add(2);
          expectTypeOf(added).toEqualTypeOf<DurablePromise<number>>();
          expectTypeOf(ctx.service(greeter).greet("x")).toEqualTypeOf<DurablePromise<string>>();
          // @ts-expect-error -- add takes a number
          void ctx.object(counter, "c1").add("two");
          // @ts-expect-error -- no such handler
          void ctx.object(counter, "c1").nope;
          expectTypeOf(ctx.send(counter, "c1").add(1, { delay: 1_000 })).toEqualTypeOf<void>();
          expectTypeOf(ctx.sleep(10)).toEqualTypeOf<DurablePromise<void>>();
          const { id, promise } = ctx.awakeable<{ ok: boolean }>();
          expectTypeOf(id).toEqualTypeOf<string>();
          expectTypeOf(promise).toEqualTypeOf<DurablePromise<{ ok: boolean }>>();
          const both = await ctx.all([added, ctx.service(greeter).greet("y")]);
          expectTypeOf(both).toEqualTypeOf<[number, string]>();
          const first = await ctx.race([added, ctx.sleep(5)]);
          expectTypeOf(first).toEqualTypeOf<number | void>();
          expectTypeOf(ctx.run("x", () => 1).orTimeout(5)).toEqualTypeOf<DurablePromise<number>>();
          return both;
        },
      },
    });
    const flow = workflow({
      name: "Flow",
      run: async (ctx, amount: number) => {
        expectTypeOf(ctx.promise<string>("p").get()).toEqualTypeOf<DurablePromise<string>>();
        return amount * 2;
      },
      handlers: { signal: async (ctx, v: string) => ctx.promise<string>("p").resolve(v) },
    });
    expectTypeOf<ClientOf<typeof flow>["run"]>().toEqualTypeOf<(input: number) => Promise<number>>();
    expectTypeOf<ClientOf<typeof flow>["signal"]>().toEqualTypeOf<(input: string) => Promise<void>>();
    expect(flow.workflow).toBe(true);
  });
});
