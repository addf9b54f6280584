/**
 * What this process holds at a moment (Linux /proc): OS threads (librdkafka runs several per
 * client), TCP connections to the broker, resident memory. Compared before and during a
 * scheme's run, the difference is what its producers cost.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

export interface Resources {
  threads: number;
  /** Established TCP connections of this process to the broker port. */
  brokerConnections: number;
  rssMb: number;
}

function socketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Connections in ESTABLISHED state whose remote port is `port` and whose socket this process holds. */
function connectionsTo(port: number): number {
  const mine = socketInodes();
  let n = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const remote = cols[2];
      const state = cols[3];
      const inode = cols[9];
      if (!remote || !inode || state !== "01") continue;
      if (Number.parseInt(remote.split(":")[1] ?? "", 16) === port && mine.has(inode)) n++;
    }
  }
  return n;
}

export function sample(brokerPort: number): Resources {
  (globalThis as { gc?: () => void }).gc?.(); // npm run bench passes --expose-gc
  const status = readFileSync("/proc/self/status", "utf8");
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return {
    threads,
    brokerConnections: connectionsTo(brokerPort),
    rssMb: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
  };
}
