/**
 * The runtime child process of the calls benchmark (app.ts), on the shared
 * RuntimeChildProcess: it takes "stats" on stdin; its RSS is not sampled (nothing reads it).
 */
import { RuntimeChildProcess } from "../runtime_child_process.js";

/** The part of runtime.stats() the benchmark reads. */
export interface ChildStats {
  completed: number;
  failed: number;
  commits: number;
}

export class RuntimeProcess extends RuntimeChildProcess {
  constructor(app: string, brokers: string[], partitions: number) {
    super({
      appFile: new URL("./app.ts", import.meta.url).pathname,
      env: { KVO_APP: app, KVO_BOOTSTRAP_SERVERS: brokers.join(","), KVO_PARTITIONS: String(partitions) },
      name: "calls runtime",
      stdin: "pipe",
      sampleRss: false,
    });
  }

  async stats(): Promise<ChildStats> {
    const got = this.next("stats");
    this.send("stats");
    return (await got) as unknown as ChildStats;
  }
}
