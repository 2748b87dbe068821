import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sql from "sql-template-tag";
import type { Database } from "./database.ts";

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");
// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK_KEY = 727_353_901;

export interface Migration {
  version: string;
  script: string;
}

/** The migrations shipped with Parley, ordered by file name (`0001_name.sql`, …). */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => ({
      version: file.replace(/\.sql$/, ""),
      script: fs.readFileSync(path.join(dir, file), "utf8"),
    }));
}

/**
 * Applies every migration not yet recorded, in order, in one transaction under an advisory
 * lock, so two processes starting together cannot both apply one. Returns the versions applied.
 */
export async function migrate(db: Database, migrations = loadMigrations()): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query(sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const done = new Set(
      (await tx.query<{ version: string }>(sql`SELECT version FROM schema_migrations`)).map((r) => r.version),
    );
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.script);
      await tx.query(sql`INSERT INTO schema_migrations (version) VALUES (${migration.version})`);
      applied.push(migration.version);
    }
    return applied;
  });
}
