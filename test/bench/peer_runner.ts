/**
 * Runs a peer system's benchmark script (../shared/peers/<peer>/run.sh, next to this
 * repository) and returns the JSON lines it prints on stdout: the figures the suites compare
 * with KVO's. The script's progress (its stderr) goes straight to ours.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

export interface PeerScript {
  /** What the peer is, for errors: "the Restate peer". */
  name: string;
  /** Absolute path of its run.sh. */
  script: string;
  args: string[];
  /** Set for the script on top of ours. */
  env: Record<string, string>;
  /** The script is stopped (SIGTERM) after this long. */
  timeoutMs: number;
  /** Appended to the error when the script is missing: how to go without it. */
  missingHint?: string;
  /** Appended to the error when the script fails: where else to look. */
  failureHint?: string;
}

export interface PeerOutput {
  /** The lines of stdout that are JSON objects, parsed, in order. */
  lines: Array<Record<string, unknown>>;
  /** All of stdout, for errors about what is missing from `lines`. */
  stdout: string;
}

/** Runs the script to its end; throws when it is not there or does not exit with code 0. */
export async function runPeerScript(peer: PeerScript): Promise<PeerOutput> {
  if (!existsSync(peer.script))
    throw new Error(
      `${peer.name} is not there: ${peer.script} (expected next to this repository, in ../shared)` +
        (peer.missingHint ? `; ${peer.missingHint}` : ""),
    );
  // the command as one would type it again, for the error
  const command = [...Object.entries(peer.env).map(([k, v]) => `${k}=${v}`), peer.script, ...peer.args].join(" ");
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn("bash", [peer.script, ...peer.args], {
      env: { ...process.env, ...peer.env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGTERM"), peer.timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${command} failed (code ${code}, signal ${signal}); its stderr is above` +
              (peer.failureHint ? `, ${peer.failureHint}` : "") +
              `. stdout: ${out.trim()}`,
          ),
        );
    });
  });
  const lines = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`${peer.name} printed a line that is not JSON (${(e as Error).message}): ${l}`);
      }
    });
  return { lines, stdout };
}
