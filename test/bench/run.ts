/**
 * Benchmark dispatcher: `npm run bench -- <suite> [args...]` runs `test/bench/<suite>/main.ts`.
 *
 * A suite's main.ts exports `main(args: string[]): Promise<void>` and prints one JSON object
 * per scenario on stdout (human-readable progress goes to stderr). Performance is measured
 * here, never asserted in tests.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface Suite {
  main(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

function suites(): string[] {
  return readdirSync(here, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(here, d.name, "main.ts")))
    .map((d) => d.name)
    .sort();
}

const [name, ...args] = process.argv.slice(2);
if (!name || !/^[\w-]+$/.test(name) || !existsSync(join(here, name, "main.ts"))) {
  process.stderr.write(
    `usage: npm run bench -- <suite> [args...]\n` +
      (name ? `unknown suite "${name}"\n` : "") +
      `suites: ${suites().join(", ") || "(none)"}\n`,
  );
  process.exit(2);
}

const suite = (await import(pathToFileURL(join(here, name, "main.ts")).href)) as Partial<Suite>;
if (typeof suite.main !== "function") {
  process.stderr.write(`test/bench/${name}/main.ts does not export main(args)\n`);
  process.exit(2);
}
try {
  await suite.main(args);
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
