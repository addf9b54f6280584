/**
 * One torture run: processes started one after another on one MemoryLog (a crashed process is
 * replaced, as a supervisor would), the workload's handlers, the producer, and the end of the
 * run (graceful stop, one more process that must find nothing to do, then the checks).
 */
import { object, shared, TerminalError } from "../../../index.js";
import { H } from "../../../runtime/invocation/headers.js";
import { Runtime } from "../../../runtime/runtime.js";
import { MemoryLog } from "../memory_log.js";
import { quietLogger } from "../memory_app.js";
import { FaultScript, FaultyTransport, type TransportEvent } from "../faulty_transport.js";
import { VirtualClock, VirtualTime } from "../virtual_clock.js";
import { check, describeStuck } from "./checks.js";
import { APP, CHANGELOG, corr, INPUT, OBJECT, REPLIES, START_OF_TIME, TIGHT_LIMITS, type Schedule } from "./schedule.js";

export interface RunOptions {
  /** Wall-clock limit of one schedule (and of each graceful stop). */
  timeoutMs: number;
  /** Rebalances revoke one partition instead of all (see FaultyTransport). */
  partialRebalances: boolean;
  /** Print the trace of passing schedules too. */
  printTrace: boolean;
}

export interface Proc {
  id: number;
  dead: boolean;
  clock: VirtualClock;
  transport: FaultyTransport;
  runtime: Runtime;
  died: Promise<void>;
}

interface UpdateInput {
  v: number;
  steps: number;
  parallel: boolean;
  fail: boolean;
  flaky: boolean;
  pad: string;
}

/** Everything observed during one schedule, across its processes. */
export class World {
  readonly log = new MemoryLog();
  readonly time = new VirtualTime(START_OF_TIME);
  readonly script: FaultScript;
  readonly events: TransportEvent[] = [];
  readonly processes: Proc[] = [];
  readonly violations: string[] = [];
  /** Incremented by every execution of a step action: a re-execution yields a new value. */
  private executionCounter = 0;
  /** `${invocationId}#${step}` → values ctx.run returned to handler code in live processes. */
  readonly returned = new Map<string, Array<{ value: number; process: number }>>();
  finished = false;
  private repliesSeen = new Set<string>();
  private repliesScanned = 0;
  private onAllReplied: () => void = () => {};
  readonly allReplied = new Promise<void>((resolve) => (this.onAllReplied = resolve));
  produced = 0;

  constructor(
    readonly s: Schedule,
    readonly options: RunOptions,
  ) {
    this.script = new FaultScript(s.commits, s.deliveries, s.lifetimes);
    this.log.createTopic(REPLIES, 1);
  }

  startProcess(): Proc {
    const id = this.processes.length + 1;
    const clock = new VirtualClock(this.time);
    const transport = new FaultyTransport(
      this.log,
      INPUT,
      CHANGELOG,
      this.script,
      id,
      (e) => this.events.push(e),
      this.options.partialRebalances,
    );
    let markDead!: () => void;
    const proc = { id, dead: false, clock, transport, died: new Promise<void>((resolve) => (markDead = resolve)) } as Proc;
    transport.onCrash = () => {
      proc.dead = true;
      clock.kill();
      markDead();
      if (!this.finished) setImmediate(() => this.startProcess());
    };
    transport.onApplied = () => this.checkReplies();
    proc.runtime = new Runtime(
      {
        app: APP,
        partitions: this.s.partitions,
        objects: [this.workload(proc)],
        logger: quietLogger,
        clock,
        retry: { initialIntervalMs: 5, maxIntervalMs: 50, maxAttempts: 50 },
        ...(this.s.limits === "tight" ? TIGHT_LIMITS : {}),
      },
      transport,
    );
    this.processes.push(proc);
    proc.runtime.start().catch((e: unknown) => this.violations.push(`process ${id} failed to start: ${(e as Error).stack ?? String(e)}`));
    void proc.runtime.closed.then((error) => {
      if (error && !proc.dead) this.violations.push(`process ${id} stopped itself: ${error.message}`);
    });
    return proc;
  }

  /** The application: a fresh definition per process, so handler code knows whether its process is alive. */
  private workload(proc: Proc) {
    return object({
      name: OBJECT,
      handlers: {
        update: async (ctx, input: UpdateInput) => {
          const list = (await ctx.get<number[]>("list")) ?? [];
          const step = async (i: number): Promise<number> => {
            const stepKey = `${ctx.request.id}#${i}`;
            const value = await ctx.run(`s${i}`, () => this.execute(proc, stepKey));
            this.recordReturn(proc, stepKey, value);
            return value;
          };
          const flakyNow = input.flaky && ctx.request.attempt === 1;
          let steps: number[];
          if (input.parallel) {
            const runs: Array<Promise<number>> = [];
            for (let i = 0; i < input.steps; i++) runs.push(step(i));
            if (flakyNow) runs.push(Promise.reject(new Error(`injected flaky failure of update ${input.v} (attempt 1)`)));
            steps = await Promise.all(runs);
          } else {
            steps = [];
            for (let i = 0; i < input.steps; i++) steps.push(await step(i));
            if (flakyNow) throw new Error(`injected flaky failure of update ${input.v} (attempt 1)`);
          }
          if (input.fail) throw new TerminalError(`update ${input.v} refused`, { code: "op_failed" });
          const next = [...list, input.v];
          ctx.set("list", next);
          return { list: next, steps };
        },
        read: shared(async (ctx) => (await ctx.get<number[]>("list")) ?? []),
      },
    });
  }

  private execute(proc: Proc, stepKey: string): number {
    const value = ++this.executionCounter;
    if (!proc.dead && this.returned.has(stepKey)) {
      this.violations.push(
        `step ${stepKey} ran again in process ${proc.id} after its result ${this.returned.get(stepKey)![0]!.value} was returned to handler code`,
      );
    }
    return value;
  }

  private recordReturn(proc: Proc, stepKey: string, value: number): void {
    if (proc.dead) return; // code of a dead process models nothing a real process would do
    const seen = this.returned.get(stepKey);
    if (!seen) this.returned.set(stepKey, [{ value, process: proc.id }]);
    else seen.push({ value, process: proc.id });
  }

  async produce(): Promise<void> {
    for (const [i, r] of this.s.records.entries()) {
      for (let g = 0; g < r.gap; g++) await new Promise((resolve) => setImmediate(resolve));
      const headers: Record<string, Buffer> = {
        [H.handler]: Buffer.from(r.kind),
        [H.replyTo]: Buffer.from(REPLIES),
        [H.correlationId]: Buffer.from(corr(i)),
      };
      let input: unknown = null;
      if (r.kind === "update") {
        if (r.idem !== null) headers[H.idempotencyKey] = Buffer.from(`idem-${r.idem}`);
        input = { v: i, steps: r.steps, parallel: r.parallel, fail: r.fail, flaky: r.flaky, pad: "x".repeat(r.pad) } satisfies UpdateInput;
      }
      this.log.append(INPUT, {
        key: Buffer.from(`${OBJECT}/k${r.key}`),
        value: input === null ? null : Buffer.from(JSON.stringify(input)),
        headers,
      });
      this.produced++;
      this.log.notify();
    }
    this.checkReplies();
  }

  checkReplies(): void {
    const replies = this.log.partitions(REPLIES)[0]!;
    for (; this.repliesScanned < replies.length; this.repliesScanned++) {
      this.repliesSeen.add(replies[this.repliesScanned]!.headers[H.correlationId]?.toString() ?? "?");
    }
    if (this.produced === this.s.records.length && this.s.records.every((_, i) => this.repliesSeen.has(corr(i)))) this.onAllReplied();
  }

  /** Stops every process and every timer: nothing of this run may touch the next one. */
  shutdown(): void {
    this.finished = true;
    for (const p of this.processes) {
      p.transport.kill("end of run");
      p.clock.kill();
    }
  }

  trace(last = 60): string {
    const lines = this.events.map((e) => {
      switch (e.type) {
        case "commit":
          return `p${e.process} commit ${e.n}: ${e.fault.outcome}${e.fault.delayTicks ? ` after ${e.fault.delayTicks} hops` : ""} (${e.records} records, offsets ${e.offsets})`;
        case "deliver":
          return `p${e.process} deliver ${e.partition}@${e.from} x${e.count}`;
        case "crash":
          return `p${e.process} CRASH ${e.where}`;
        case "rejoin":
          return `p${e.process} rejoin after fencing`;
        case "revoke":
        case "assign":
          return `p${e.process} ${e.type} [${e.partitions.join(", ")}]`;
      }
    });
    const skipped = Math.max(0, lines.length - last);
    return (skipped ? [`... ${skipped} earlier events`] : []).concat(lines.slice(-last)).join("\n  ");
  }
}

const hops = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

function timeout(ms: number): { promise: Promise<"timeout">; cancel: () => void } {
  let handle: ReturnType<typeof setTimeout>;
  const promise = new Promise<"timeout">((resolve) => (handle = setTimeout(() => resolve("timeout"), ms)));
  return { promise, cancel: () => clearTimeout(handle) };
}

/** What the schedules exercised, summed over a property run (printed at the end). */
export const totals = {
  schedules: 0,
  records: 0,
  processes: 0,
  commits: 0,
  applied: 0,
  failedCommits: 0,
  fenced: 0,
  crashes: 0,
  partialDeliveries: 0,
  pauses: 0,
  revocations: 0,
};

function count(world: World): void {
  totals.schedules++;
  totals.records += world.s.records.length;
  totals.processes += world.processes.length;
  for (const p of world.processes) totals.pauses += p.transport.pauses;
  for (const e of world.events) {
    if (e.type === "commit") {
      totals.commits++;
      if (e.fault.outcome === "ok" || e.fault.outcome === "crashAfter") totals.applied++;
      if (e.fault.outcome === "retryable" || e.fault.outcome === "aborted") totals.failedCommits++;
      if (e.fault.outcome === "fenced") totals.fenced++;
    }
    if (e.type === "crash" && e.where !== "end of run") totals.crashes++;
    if (e.type === "revoke") totals.revocations++;
    if (e.type === "deliver" && e.count < world.log.partitions(INPUT)[e.partition]!.length - Number(e.from)) totals.partialDeliveries++;
  }
}

/** Runs one schedule to completion and checks it; throws with a description on any failure. */
export async function runSchedule(s: Schedule, options: RunOptions): Promise<void> {
  const world = new World(s, options);
  try {
    world.startProcess();
    void world.produce();
    await untilAllReplied(world);

    // Every input has its reply. Stop the live process gracefully (no more faults), then start
    // one more on the result: it must find nothing to do.
    world.finished = true;
    world.script.enabled = false;
    const last = world.processes[world.processes.length - 1]!;
    if (!last.dead) await stopWithin(world, last, "the last process");
    const repliesBefore = world.log.partitions(REPLIES)[0]!.length;
    const verifier = world.startProcess();
    await hops(20);
    await stopWithin(world, verifier, "the verification process");
    const repliesAfter = world.log.partitions(REPLIES)[0]!.length;
    if (repliesAfter !== repliesBefore)
      world.violations.push(`a restart after completion wrote ${repliesAfter - repliesBefore} more replies`);
    check(world, s);
    if (options.printTrace) console.log(`trace of a passing schedule:\n  ${world.trace()}`);
  } catch (e) {
    const error = e as Error;
    error.message = `${error.message}\n\ntrace (${world.processes.length} processes):\n  ${world.trace()}`;
    throw error;
  } finally {
    world.shutdown();
    count(world);
  }
}

/**
 * Waits until every input has its reply. Everything in a run moves through setImmediate hops
 * (deliveries, commits, virtual timers), so a run whose log, events and timers did not change
 * for STALL_HOPS hops will never finish: it fails at once instead of waiting for the wall-clock
 * limit (which stays as a backstop).
 */
async function untilAllReplied(world: World): Promise<void> {
  let done = false;
  void world.allReplied.then(() => (done = true));
  const deadline = Date.now() + world.options.timeoutMs;
  let last = "";
  let unchanged = 0;
  let changedAt = Date.now();
  while (!done) {
    for (let i = 0; i < SAMPLE_EVERY && !done; i++) await new Promise((resolve) => setImmediate(resolve));
    if (done) return;
    const signature = `${world.events.length}|${world.produced}|${world.time.fired}|${world.time.now}|${totalRecords(world.log)}`;
    if (signature === last) unchanged += SAMPLE_EVERY;
    else [unchanged, changedAt] = [0, Date.now()];
    last = signature;
    // Both: many turns (fast machines) and some wall time (a real timer somewhere, a loaded machine).
    if (unchanged >= STALL_HOPS && Date.now() - changedAt >= STALL_MS) {
      throw new Error(`no progress for ${unchanged} event-loop turns (${Date.now() - changedAt} ms): ${describeStuck(world)}`);
    }
    if (Date.now() > deadline) throw new Error(`not finished after ${world.options.timeoutMs} ms: ${describeStuck(world)}`);
  }
}

const STALL_HOPS = 2_000;
const SAMPLE_EVERY = 20;
const STALL_MS = 500;

function totalRecords(log: MemoryLog): number {
  let n = 0;
  for (const parts of log.topics.values()) for (const p of parts) n += p.length;
  return n;
}

async function stopWithin(world: World, proc: Proc, what: string): Promise<void> {
  const limit = timeout(world.options.timeoutMs);
  const result = await Promise.race([
    proc.runtime.stop().then(() => "stopped" as const),
    proc.died.then(() => "died" as const),
    limit.promise,
  ]);
  limit.cancel();
  if (result === "timeout") world.violations.push(`${what} (process ${proc.id}) did not stop within ${world.options.timeoutMs} ms`);
}
