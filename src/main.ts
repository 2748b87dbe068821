import { startAdminServer } from "./admin/server.ts";
import { buildApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { createLogger } from "./logging.ts";
import { createDefaultSandboxNumber } from "./modules/phone-numbers/service.ts";
import { ensureDefaultProject } from "./modules/projects/service.ts";
import { openRuntime } from "./runtime.ts";

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const log = createLogger(config.logLevel);

  let runtime: Awaited<ReturnType<typeof openRuntime>>;
  try {
    runtime = await openRuntime(config, log);
  } catch (err) {
    if (err instanceof DataDirLockedError) fail(`${err.message}; stop it first or set PARLEY_DATA_DIR`);
    throw err;
  }
  if (runtime.appliedMigrations.length)
    log.info({ migrations: runtime.appliedMigrations }, "migrations applied");

  const app = await buildApp(runtime.ctx);
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  if (address && typeof address === "object") {
    const host = ["0.0.0.0", "::", "localhost"].includes(config.host) ? "127.0.0.1" : config.host;
    runtime.ctx.selfUrl = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
  }
  const admin = await startAdminServer(runtime.ctx);

  const database = config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite in ${config.dataDir}`;
  const lines = [`Parley is listening on ${config.publicUrl} (database: ${database})`];
  const created = config.databaseUrl ? undefined : await ensureDefaultProject(runtime.ctx.db);
  if (created) {
    lines.push(
      `Created the default project "${created.project.name}" (${created.project.id}).`,
      "Its API key is shown only this once; keep it:",
      "",
      `  ${created.key.api_key}`,
      "",
      `Try: curl -H "X-API-Key: ${created.key.api_key}" ${config.publicUrl}/platform/v1/inbox_embeds`,
    );
    if (config.sandboxEnabled) {
      const sandbox = await createDefaultSandboxNumber(runtime.ctx, created.project.id);
      lines.push(
        "",
        `Created a sandbox WhatsApp number ${sandbox.display_phone_number} (phone_number_id ${sandbox.phone_number_id}).`,
        `Simulate a message to it: npx parley sandbox inbound --from 15551234567 --text hi`,
      );
    }
  }
  process.stdout.write(`\n${lines.join("\n")}\n\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down");
    await app.close();
    await admin.close();
    await runtime.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err) => {
  process.stderr.write(`parley: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
