import type { Sql } from "sql-template-tag";
import type { Queryable } from "./database.ts";

/** Rows one purge statement deletes at most, so a large backlog never holds one long lock. */
const PURGE_BATCH = 5_000;

/**
 * Deletes in batches until a batch comes back short: `deleteBatch(limit)` is a
 * `DELETE … RETURNING` of at most `limit` rows. Returns how many rows went.
 */
export async function purgeInBatches(db: Queryable, deleteBatch: (limit: number) => Sql): Promise<number> {
  let purged = 0;
  for (;;) {
    const rows = await db.query(deleteBatch(PURGE_BATCH));
    purged += rows.length;
    if (rows.length < PURGE_BATCH) return purged;
  }
}
