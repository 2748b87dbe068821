import path from "node:path";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "./config.ts";
import type { AppContext } from "./context.ts";
import { lockDataDir } from "./db/data-dir-lock.ts";
import { type Database, openDatabase } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { startJobQueue, stopJobQueue } from "./jobs/boss.ts";
import { createCipher, resolveEncryptionKey } from "./security/encryption.ts";
import { GraphClient } from "./whatsapp/graph-client.ts";

export interface Runtime {
  ctx: AppContext;
  /** Migrations applied while opening (empty when the database was up to date). */
  appliedMigrations: string[];
  close(): Promise<void>;
}

/**
 * Opens what every Parley process needs: the database (locking the data directory when it is
 * embedded), its migrations, and the job queue. `database` lets tests pass their own.
 */
export async function openRuntime(
  config: Config,
  log: FastifyBaseLogger,
  options: { database?: Database } = {},
): Promise<Runtime> {
  const ownsDatabase = !options.database;
  const unlock = ownsDatabase && !config.databaseUrl ? lockDataDir(config.dataDir) : () => {};
  let db: Database | undefined = options.database;
  try {
    db ??= await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: path.join(config.dataDir, "pglite"),
    });
    const appliedMigrations = await migrate(db);
    const cipher = createCipher(await resolveEncryptionKey(config, db, log));
    const jobs = await startJobQueue(db, log);
    const ctx: AppContext = {
      config,
      db,
      jobs,
      log,
      cipher,
      graph: new GraphClient({ log, timeoutMs: config.meta.graphTimeoutSeconds * 1000 }),
      selfUrl: `http://127.0.0.1:${config.port}`,
    };
    return {
      ctx,
      appliedMigrations,
      async close() {
        await stopJobQueue(jobs).catch((err) => log.warn({ err }, "job queue did not stop cleanly"));
        if (ownsDatabase) await db!.close();
        unlock();
      },
    };
  } catch (err) {
    if (ownsDatabase) await db?.close().catch(() => {});
    unlock();
    throw err;
  }
}
