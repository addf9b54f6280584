// ESLint flat config: typed typescript-eslint rules for all TypeScript, the layer boundaries
// sdk ← runtime ← connectors as import restrictions, and eslint-config-prettier last so that
// no rule fights the formatter (formatting is prettier's job: `npm run format:check`).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

// ---- layer boundaries ------------------------------------------------------------------------

const DIRECTION = "dependencies point one way, sdk ← runtime ← connectors (docs/design.md, Layers)";
const WHY = {
  runtime: DIRECTION,
  connectors: `${DIRECTION}; the runtime knows nothing about Kafka: give it a port (like runtime/log/log.ts) that connectors/ implements`,
  test: "production code never depends on tests; move what both need into the layer",
  examples: "production code never depends on examples; move what both need into the layer",
  compose: "compose/ is the local infrastructure tooling, not part of the library",
  index: "index.ts is the public entry point and re-exports every layer; import the module you need directly",
};

/** Which top-level directories (or the root index.ts) each layer must not import. */
const FORBIDDEN = {
  sdk: ["runtime", "connectors", "test", "examples", "compose", "index"],
  runtime: ["connectors", "test", "examples", "compose", "index"],
  connectors: ["test", "examples", "compose", "index"],
};

/** Deeper than any directory of the project; files below this depth are not checked. */
const MAX_DEPTH = 6;

/**
 * no-restricted-imports matches the import specifier as written, not the resolved file, so
 * the rules are generated per directory depth: a file at depth d reaches the repository root
 * with exactly d `../` (all imports in this project are relative). That keeps the patterns
 * exact: `../connectors/x.js` from runtime/codec/ is runtime/connectors/, not a violation.
 * One block per (layer, depth); the globs are disjoint, so no block replaces another's
 * options (flat config replaces rule options, it does not merge them).
 */
function layerBoundaries() {
  const blocks = [];
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    for (let depth = 1; depth <= MAX_DEPTH; depth++) {
      const up = "\\.\\./".repeat(depth);
      blocks.push({
        name: `kvo/boundaries/${layer}/depth-${depth}`,
        files: [`${layer}/${"*/".repeat(depth - 1)}*.ts`],
        rules: {
          "no-restricted-imports": [
            "error",
            {
              patterns: forbidden.map((target) => ({
                regex: target === "index" ? `^${up}index(\\.js)?$` : `^${up}${target}(/|$)`,
                message: `${layer}/ must not import ${target === "index" ? "the root index.ts" : `${target}/`}: ${WHY[target]}.`,
              })),
            },
          ],
        },
      });
    }
  }
  return blocks;
}

// ---- config ----------------------------------------------------------------------------------

const LIBRDKAFKA_ERROR = { from: "package", package: "@confluentinc/kafka-javascript", name: "LibrdKafkaError" };

export default defineConfig(
  globalIgnores(["node_modules/", ".kvo/", "dist/"]),

  js.configs.recommended,

  {
    name: "kvo/typescript",
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // each file is type-checked with the tsconfig.json whose include covers it
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Relaxed: `async` without `await` is deliberate here. Handlers, port implementations
      // (onAssigned, put, ...) and test doubles are `async` so that a throw becomes a rejected
      // promise, as their Promise-returning contracts require; dropping `async` to satisfy
      // this rule would turn those throws synchronous.
      "@typescript-eslint/require-await": "off",
      // Narrowed: librdkafka's errors are Errors at runtime (its lib/error.js inherits Error)
      // but typed as a plain interface; throwing or rejecting with one as it came keeps its
      // code and stack. Literals, strings and other non-Errors still fail.
      "@typescript-eslint/only-throw-error": ["error", { allow: [LIBRDKAFKA_ERROR] }],
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allow: [LIBRDKAFKA_ERROR] }],
      // Narrowed: `_`-prefixed bindings are unused on purpose (rest-destructuring a field
      // out, keeping a parameter's position).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },

  // Plain JavaScript (this file): no type information.
  {
    name: "kvo/javascript",
    files: ["**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
  },

  ...layerBoundaries(),

  // Last: turn off every stylistic rule that prettier owns.
  prettier,
);
