/**
 * The command-line flag parser of the benchmark suites (`npm run bench -- <suite> [flags]`).
 *
 * A suite lists its flags with what each one does to its options; `parseFlags` walks the
 * arguments, hands every flag a reader for its value and rejects an unknown flag. Every error
 * says which flag and value were wrong and ends with the suite's usage line, so a typo shows
 * the fix right away.
 */

/** Reads the value of the flag being parsed (the next argument), checked. */
export interface FlagValue {
  /** The next argument as it is. */
  string(): string;
  /** The next argument as an integer ≥ `min` (default 1). */
  int(min?: number): number;
  /** The next argument, which must be valid JSON; returned as the text. */
  json(): string;
  /** The next argument, which must be one of `choices`. */
  oneOf<T extends string>(choices: readonly T[]): T;
  /** The next argument when it is a value, not the next flag (for a flag whose value may be left out). */
  optional(): string | undefined;
}

/** What one flag does to the options; a switch without a value ignores the reader. */
export type FlagHandler = (value: FlagValue) => void;

/** Applies `args` through `flags`; throws on an unknown flag or a missing or malformed value. */
export function parseFlags(args: readonly string[], usage: string, flags: Record<string, FlagHandler>): void {
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const handler = Object.hasOwn(flags, flag) ? flags[flag] : undefined;
    if (!handler) throw new Error(`unknown option ${flag}\n${usage}`);
    const next = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${usage}`);
      return v;
    };
    handler({
      string: next,
      int: (min = 1) => integer(flag, next(), usage, min),
      json: () => {
        const raw = next();
        try {
          JSON.parse(raw);
        } catch (e) {
          throw new Error(`${flag} is not valid JSON (${(e as Error).message}): ${raw}\n${usage}`);
        }
        return raw;
      },
      oneOf: <T extends string>(choices: readonly T[]): T => {
        const v = next();
        if (!(choices as readonly string[]).includes(v))
          throw new Error(`${flag} must be ${choices.join(" or ")}, got ${JSON.stringify(v)}\n${usage}`);
        return v as T;
      },
      optional: () => {
        const v = args[i + 1];
        if (v === undefined || v.startsWith("--")) return undefined;
        i++;
        return v;
      },
    });
  }
}

/**
 * `raw` as an integer ≥ `min`; throws naming `name` (a flag or an environment variable) and
 * ending with the usage line otherwise.
 */
export function integer(name: string, raw: string | undefined, usage: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    const what = min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer of at least ${min}`;
    throw new Error(`${name} must be ${what}, got ${JSON.stringify(raw)}\n${usage}`);
  }
  return n;
}
