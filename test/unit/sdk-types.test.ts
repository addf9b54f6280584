import { describe, expect, expectTypeOf, it } from "vitest";
import { object, service, shared, stateOf, TerminalError, toKvoError, UnknownError } from "../../index.js";
import type { ClientOf, SharedObjectContext } from "../../index.js";

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
