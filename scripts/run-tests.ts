// Runs the test suite once on embedded PGlite and, when TEST_DATABASE_URL is set, once more on
// real PostgreSQL. Each pass prints node's test summary; the script fails if either pass fails.
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";

const files = [...globSync("src/**/*.test.ts"), ...globSync("test/**/*.test.ts")].sort();
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const engines = process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];
if (!process.env.TEST_DATABASE_URL) {
  console.log("TEST_DATABASE_URL is not set: running on embedded PGlite only.");
}

let failed = false;
for (const engine of engines) {
  console.log(`\n=== Test pass on ${engine} (${selected.length} files) ===\n`);
  const result = spawnSync(
    process.execPath,
    ["--test", "--test-concurrency=3", "--test-reporter=spec", ...selected],
    { stdio: "inherit", env: { ...process.env, PARLEY_TEST_ENGINE: engine } },
  );
  if (result.status !== 0) {
    failed = true;
    console.log(`\n=== Test pass on ${engine} FAILED ===`);
  }
}
process.exit(failed ? 1 : 0);
