import type { KvoError } from "../../sdk/errors.js";
import type { Clock } from "../support.js";

/**
 * The deadline and abort switch of one running attempt.
 *
 * `signal` goes to the attempt's context (which dies when it aborts) and to its ctx.run
 * actions; `interrupted` rejects with the abort reason, so the processor can race it against
 * the handler and move on while a hung handler never settles. The deadline timer runs on the
 * injected clock and is cleared by `settle()` once the attempt is over.
 */
export class AttemptControl {
  readonly startedAt: number;
  readonly interrupted: Promise<never>;
  private readonly controller = new AbortController();
  private timer: unknown;

  constructor(
    private readonly clock: Clock,
    timeoutMs: number,
    timeoutError: () => KvoError,
  ) {
    this.startedAt = clock.now();
    this.interrupted = new Promise<never>((_, reject) => {
      this.controller.signal.addEventListener("abort", () => reject(this.controller.signal.reason as KvoError), { once: true });
    });
    // An abort after the attempt settled has nobody racing it: never an unhandled rejection.
    this.interrupted.catch(() => undefined);
    this.timer = clock.setTimeout(() => {
      this.timer = null;
      this.abort(timeoutError());
    }, timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** Aborts the attempt with `reason` (the first reason wins). */
  abort(reason: KvoError): void {
    this.settle();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** The attempt is over: its deadline no longer matters. */
  settle(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
