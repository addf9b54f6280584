import type { DurablePromise } from "../../sdk/durable.js";

/**
 * What ctx.run, calls, timers and awakeables return: a thenable over the step's own promise,
 * with orTimeout. Not a Promise subclass on purpose: its inner promise has a no-op rejection
 * handler, so a durable promise nobody awaits (a race's loser, a call whose result is not
 * needed) never becomes an unhandled rejection that would crash the process. Whoever chains
 * on it gets the rejection as usual.
 */
export class DurablePromiseImpl<T> implements DurablePromise<T> {
  readonly [Symbol.toStringTag] = "DurablePromise";

  constructor(
    readonly inner: Promise<T>,
    private readonly withTimeout: (promise: DurablePromiseImpl<T>, ms: number) => DurablePromise<T>,
  ) {
    inner.catch(() => undefined);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.inner.then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.inner.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.inner.finally(onfinally);
  }

  orTimeout(ms: number): DurablePromise<T> {
    return this.withTimeout(this, ms);
  }
}
