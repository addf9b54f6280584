import type { KvoError } from "../../sdk/errors.js";
import type { AttemptAbort } from "../journal/context_impl.js";
import type { Clock } from "../support.js";

const ignore = (): void => undefined;

/**
 * The deadline and abort switch of one running attempt.
 *
 * The attempt's context subscribes to the abort (it dies with it); `signal`, a real
 * AbortSignal for ctx.run actions (fetch() and the like), is made only when an action asks for
 * it: most attempts never need one, and creating one per attempt is measurable on a backlog.
 * `interrupted` rejects with the abort reason, so the processor can race it against the
 * handler and move on while a hung handler never settles. The deadline timer runs on the
 * injected clock and is cleared by `settle()` once the attempt is over.
 */
export class AttemptControl implements AttemptAbort {
  readonly startedAt: number;
  readonly interrupted: Promise<never>;
  private reason: KvoError | null = null;
  private rejectInterrupted!: (reason: KvoError) => void;
  private readonly listeners: Array<() => void> = [];
  private controller: AbortController | null = null;
  private timer: unknown;

  constructor(
    private readonly clock: Clock,
    timeoutMs: number,
    timeoutError: () => KvoError,
  ) {
    this.startedAt = clock.now();
    this.interrupted = new Promise<never>((_, reject) => (this.rejectInterrupted = reject));
    // An abort after the attempt settled has nobody racing it: never an unhandled rejection.
    this.interrupted.catch(ignore);
    this.timer = clock.setTimeout(() => {
      this.timer = null;
      this.abort(timeoutError());
    }, timeoutMs);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.reason !== null;
  }

  onAbort(listener: () => void): void {
    if (this.reason) listener();
    else this.listeners.push(listener);
  }

  /** Aborts the attempt with `reason` (the first reason wins). */
  abort(reason: KvoError): void {
    this.settle();
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    for (const listener of this.listeners.splice(0)) listener();
    this.rejectInterrupted(reason);
  }

  /** The attempt is over: its deadline no longer matters. */
  settle(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
