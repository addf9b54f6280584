/**
 * The error-code catalogue (sdk/error_codes.ts) is the one list of KVO's stable codes:
 *  - docs/errors.md must list exactly its codes, each with the same retryable flag;
 *  - the source of sdk/, runtime/ and connectors/ must use no code literal missing from it,
 *    and every catalogued code must still be used somewhere (no stale entries).
 *
 * The source scan reads the code with comments removed (printed back by the TypeScript
 * compiler, so a `code: "x"` in a doc comment, such as an application code in an example,
 * is not taken for one) and looks for the shapes codes are written in today; see CODE_PATTERNS.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, isErrorCode } from "../../sdk/error_codes.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE_DIRS = ["sdk", "runtime", "connectors"];
/** The catalogue itself: its meanings quote codes and user codes. */
const NOT_SCANNED = new Set(["sdk/error_codes.ts"]);

const catalogue = new Map(Object.entries(ERROR_CODES).map(([code, info]) => [code, info.retryable]));

// ---- docs/errors.md ------------------------------------------------------------------------

/** Rows `| \`code\` | yes/no | … |` of the tables in docs/errors.md, in order. */
function documentedCodes(): Array<{ code: string; retryable: boolean; line: number }> {
  const rows: Array<{ code: string; retryable: boolean; line: number }> = [];
  const lines = readFileSync(join(ROOT, "docs", "errors.md"), "utf8").split("\n");
  lines.forEach((text, i) => {
    const row = /^\|\s*`([^`]+)`\s*\|\s*\**(yes|no)\**\s*\|/.exec(text);
    if (row) rows.push({ code: row[1]!, retryable: row[2] === "yes", line: i + 1 });
    else if (/^\|\s*`/.test(text))
      throw new Error(`docs/errors.md:${i + 1}: a table row whose retryable column is not "yes" or "no": ${text}`);
  });
  return rows;
}

// ---- source scan ---------------------------------------------------------------------------

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "test") out.push(...sourceFiles(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".d.ts") && !NOT_SCANNED.has(path)) {
      out.push(path);
    }
  }
  return out;
}

/** The file's code without comments; string literals keep their original quotes. */
function withoutComments(path: string): string {
  const text = readFileSync(join(ROOT, path), "utf8");
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return ts.createPrinter({ removeComments: true }).printFile(file);
}

/** A string literal without interpolation, in any quotes; group 2 is its text. */
const LITERAL = String.raw`(["'\`])((?:(?!\1)[^\\$\n])*)\1`;

/**
 * The shapes a code literal is written in. Each was checked against the source: they match
 * codes, not messages (messages are template literals or long sentences in other positions).
 */
const CODE_PATTERNS: Array<{ name: string; re: RegExp }> = [
  // { code: "x" } in KvoError options and failure records; `a.code : "x"` (ternary default)
  { name: 'code: "x"', re: new RegExp(String.raw`\bcode\s*:\s*${LITERAL}`, "g") },
  // options.code ?? "terminal", header(H.errorCode) ?? "unknown"
  { name: 'code ?? "x"', re: new RegExp(String.raw`[cC]ode\)?\s*\?\?\s*${LITERAL}`, "g") },
  // e.code === "not_in_flight" (typeof x.code === "string" is dropped by TYPEOF_NAMES)
  { name: 'code === "x"', re: new RegExp(String.raw`\.code\s*[!=]==?\s*${LITERAL}`, "g") },
  // reject("missing_key", …) in the invocation envelope
  { name: 'reject("x"', re: new RegExp(String.raw`\breject\(\s*${LITERAL}\s*,`, "g") },
];

/** What `typeof` answers: compared with `.code` in type checks, never codes themselves. */
const TYPEOF_NAMES = new Set(["string", "number", "bigint", "boolean", "symbol", "undefined", "object", "function"]);

/** Error classes whose constructor takes the code as its first parameter (BadInvocationError). */
function codeFirstClasses(sources: string[]): string[] {
  const names = new Set<string>();
  const re = /class\s+(\w+)\s+extends\s+\w+\s*\{\s*constructor\(\s*code\s*:/g;
  for (const text of sources) for (const m of text.matchAll(re)) names.add(m[1]!);
  return [...names];
}

/** Values of `const <name>ErrorCodes = { … }` objects (KafkaErrorCodes, AvroPayloadErrorCodes). */
function errorCodesObjectValues(text: string): string[] {
  const values: string[] = [];
  for (const obj of text.matchAll(/\bconst\s+\w*ErrorCodes\s*(?::[^=]+)?=\s*\{([^}]*)\}/g)) {
    for (const v of obj[1]!.matchAll(new RegExp(String.raw`:\s*${LITERAL}`, "g"))) values.push(v[2]!);
  }
  return values;
}

interface Use {
  code: string;
  where: string;
  pattern: string;
}

function scanSource(): Use[] {
  const files = SOURCE_DIRS.flatMap(sourceFiles);
  const texts = new Map(files.map((f) => [f, withoutComments(f)]));
  const patterns = [...CODE_PATTERNS];
  for (const cls of codeFirstClasses([...texts.values()])) {
    patterns.push({ name: `new ${cls}("x"`, re: new RegExp(String.raw`\b${cls}\(\s*${LITERAL}`, "g") });
  }
  const uses: Use[] = [];
  for (const [file, text] of texts) {
    for (const { name, re } of patterns) {
      for (const m of text.matchAll(re)) if (!TYPEOF_NAMES.has(m[2]!)) uses.push({ code: m[2]!, where: file, pattern: name });
    }
    for (const code of errorCodesObjectValues(text)) uses.push({ code, where: file, pattern: "*ErrorCodes value" });
  }
  return uses;
}

describe("error code catalogue", () => {
  it("is frozen and its codes are snake_case", () => {
    expect(Object.isFrozen(ERROR_CODES)).toBe(true);
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(Object.isFrozen(info)).toBe(true);
      expect(info.meaning.length, `${code} has no meaning`).toBeGreaterThan(10);
    }
    expect(isErrorCode("missing_key")).toBe(true);
    expect(isErrorCode("bad_amount")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
  });

  it("docs/errors.md lists exactly the catalogue's codes, with the same retryable flag", () => {
    const rows = documentedCodes();
    const seen = new Map<string, number>();
    const problems: string[] = [];
    for (const { code, retryable, line } of rows) {
      const earlier = seen.get(code);
      if (earlier !== undefined) problems.push(`docs/errors.md:${line}: \`${code}\` is listed twice (also line ${earlier})`);
      seen.set(code, line);
      const expected = catalogue.get(code);
      if (expected === undefined)
        problems.push(`docs/errors.md:${line}: \`${code}\` is not in sdk/error_codes.ts (add it there, or remove the row)`);
      else if (expected !== retryable)
        problems.push(`docs/errors.md:${line}: \`${code}\` retryable is ${retryable ? "yes" : "no"}, the catalogue says ${expected}`);
    }
    for (const code of catalogue.keys()) {
      if (!seen.has(code)) problems.push(`\`${code}\` is in sdk/error_codes.ts but has no row in docs/errors.md`);
    }
    expect(problems).toEqual([]);
  });

  it("the source uses no code that is missing from the catalogue, and every catalogued code is used", () => {
    const uses = scanSource();
    // The scan must keep seeing each shape; if one disappears, a pattern has rotted.
    const byPattern = new Set(uses.map((u) => u.pattern));
    for (const name of ['code: "x"', 'code ?? "x"', 'reject("x"', 'new BadInvocationError("x"', "*ErrorCodes value"]) {
      expect(byPattern, `no match for pattern ${name}`).toContain(name);
    }
    const missing = uses
      .filter((u) => !catalogue.has(u.code))
      .map((u) => `${u.where}: "${u.code}" (${u.pattern}) is not in sdk/error_codes.ts`);
    expect(missing).toEqual([]);
    const used = new Set(uses.map((u) => u.code));
    const stale = [...catalogue.keys()].filter((code) => !used.has(code));
    expect(stale, "catalogued codes no source file uses (remove them, or the scan misses a shape)").toEqual([]);
  }, 60_000); // parses and prints every source file: seconds on a loaded 2-core machine
});
