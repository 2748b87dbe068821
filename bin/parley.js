#!/usr/bin/env node
// Runs the Parley CLI on the project's own Node 24 runtime, whatever `node` is first on PATH.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, "..", "src", "cli", "main.ts");

if (Number(process.versions.node.split(".")[0]) >= 24) {
  await import(cli);
} else {
  const nodeDir = path.dirname(createRequire(import.meta.url).resolve("node/package.json"));
  const result = spawnSync(path.join(nodeDir, "bin", "node"), [cli, ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(result.status ?? 1);
}
