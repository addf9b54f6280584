/**
 * The handlers of the timers benchmark and where they mark what fired.
 *
 * kind send:  `Scheduler.schedule` makes `count` delayed sends to `Sink.fire`, each due at an
 *             absolute time of the window (delay = due − ctx.date.now()), so all are pending
 *             at once before the first is due.
 * kind sleep: `Sleeper.nap` sleeps until its due time: N suspended invocations waiting.
 * Both mark the id when it fires, with its lateness (wall clock at the handler − due), in
 * typed arrays (outside the JS heap, allocated before the baseline heap reading). A handler
 * re-run after a retry marks again: `fired` counts ids, not executions.
 */
import { service, type ServiceContext } from "../../../index.js";

export class FireMarks {
  readonly seen: Uint8Array;
  readonly lateness: Float64Array;
  fired = 0;
  duplicates = 0;
  early = 0;
  constructor(readonly n: number) {
    this.seen = new Uint8Array(n);
    this.lateness = new Float64Array(n);
  }
  mark(id: number, due: number): void {
    const late = Date.now() - due;
    if (this.seen[id]) {
      this.duplicates++;
      return;
    }
    this.seen[id] = 1;
    this.lateness[id] = late;
    if (late < 0) this.early++;
    this.fired++;
  }
}

export interface ScheduleInput {
  batch: number;
  count: number;
  total: number;
  windowStart: number;
  spread: number;
}

/** Due time of timer `n` of `total`: a permutation of evenly spread slots (consecutive timers are not due in order). */
export function dueOf(n: number, total: number, windowStart: number, spread: number): number {
  const slot = (n * 7_919) % total;
  return windowStart + Math.floor((spread * slot) / total);
}

export function definitions(marks: FireMarks) {
  const sink = service({
    name: "Sink",
    handlers: {
      fire: async (_ctx: ServiceContext, input: { id: number; due: number }): Promise<void> => marks.mark(input.id, input.due),
    },
  });
  const scheduler = service({
    name: "Scheduler",
    handlers: {
      schedule: async (ctx: ServiceContext, input: ScheduleInput): Promise<void> => {
        const now = await ctx.date.now();
        for (let i = 0; i < input.count; i++) {
          const id = input.batch * input.count + i;
          const delay = Math.max(1, dueOf(id, input.total, input.windowStart, input.spread) - now);
          ctx.send(sink).fire({ id, due: now + delay }, { delay });
        }
      },
    },
  });
  const sleeper = service({
    name: "Sleeper",
    handlers: {
      nap: async (ctx: ServiceContext, input: { id: number; due: number }): Promise<void> => {
        const now = await ctx.date.now();
        await ctx.sleep(Math.max(1, input.due - now));
        marks.mark(input.id, Math.max(input.due, now + 1));
      },
    },
  });
  return { services: [sink, scheduler, sleeper] };
}
