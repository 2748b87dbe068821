import sql from "sql-template-tag";
import type { Queryable } from "./database.ts";

/**
 * Returns the setting `key`, creating it with `create()` the first time. Safe under concurrent
 * first use: whichever process inserts first wins and every process reads that value.
 */
export async function getOrCreateSetting(db: Queryable, key: string, create: () => string): Promise<string> {
  await db.query(
    sql`INSERT INTO settings (key, value) VALUES (${key}, ${create()}) ON CONFLICT (key) DO NOTHING`,
  );
  const [row] = await db.query<{ value: string }>(sql`SELECT value FROM settings WHERE key = ${key}`);
  return row!.value;
}
