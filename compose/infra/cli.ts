/**
 * npm run infra:up | infra:down | infra:status
 */
import { down, status, up } from "./infra.js";

const usage = "usage: tsx compose/infra/cli.ts up|down|status";

async function main(cmd: string | undefined): Promise<number> {
  switch (cmd) {
    case "up": {
      const t0 = Date.now();
      await up();
      process.stdout.write(`infra:up done in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
      return 0;
    }
    case "down":
      await down();
      return 0;
    case "status": {
      const lines = await status();
      return lines.every((l) => l.healthy) ? 0 : 3;
    }
    default:
      process.stderr.write(usage + "\n");
      return 2;
  }
}

const cmd = process.argv[2];
main(cmd).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`infra:${cmd ?? "?"} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
