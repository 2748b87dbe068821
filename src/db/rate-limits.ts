import sql from "sql-template-tag";
import type { Database } from "./database.ts";

/** One fixed window of a limit: at most `limit` hits per `seconds` under `key`. */
export interface RateWindow {
  key: string;
  seconds: number;
  limit: number;
}

export interface RateWindowState {
  limit: number;
  remaining: number;
  /** Seconds until this window starts over. */
  resetSeconds: number;
}

export interface RateDecision {
  allowed: boolean;
  windows: RateWindowState[];
  /** When refused: seconds until every exceeded window has started over. */
  retryAfterSeconds: number;
}

class Refused extends Error {
  readonly decision: RateDecision;
  constructor(decision: RateDecision) {
    super("rate limited");
    this.decision = decision;
  }
}

/**
 * Counts one hit against every window, in the database so that all processes share the
 * counts. A refused hit is not counted (its transaction rolls back), so a client that keeps
 * calling while limited does not extend its own wait.
 */
export async function consumeRateLimit(db: Database, windows: RateWindow[]): Promise<RateDecision> {
  try {
    return await db.transaction(async (tx) => {
      const counted: { limit: number; hits: number; resetSeconds: number }[] = [];
      let exceeded = false;
      let retryAfter = 0;
      for (const w of windows) {
        const [row] = await tx.query<{ hits: number; reset: number }>(sql`
          WITH now AS (SELECT clock_timestamp() AS at)
          INSERT INTO rate_limit_counters (key, window_start, hits)
          SELECT ${w.key}, to_timestamp(floor(extract(epoch FROM at) / ${w.seconds}) * ${w.seconds}), 1 FROM now
          ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1
          RETURNING hits,
            extract(epoch FROM window_start) + ${w.seconds} - extract(epoch FROM clock_timestamp()) AS reset`);
        const resetSeconds = Math.max(1, Math.ceil(Number(row!.reset)));
        if (row!.hits > w.limit) {
          exceeded = true;
          retryAfter = Math.max(retryAfter, resetSeconds);
        }
        counted.push({ limit: w.limit, hits: row!.hits, resetSeconds });
        await tx.query(sql`
          DELETE FROM rate_limit_counters
          WHERE key = ${w.key} AND window_start < clock_timestamp() - make_interval(secs => ${w.seconds * 2})`);
      }
      // A refused hit is rolled back, so what is left is counted without it.
      const used = (hits: number) => (exceeded ? hits - 1 : hits);
      const decision = {
        allowed: !exceeded,
        windows: counted.map((c) => ({
          limit: c.limit,
          remaining: Math.max(0, c.limit - used(c.hits)),
          resetSeconds: c.resetSeconds,
        })),
        retryAfterSeconds: retryAfter,
      };
      if (exceeded) throw new Refused(decision);
      return decision;
    });
  } catch (err) {
    if (err instanceof Refused) return err.decision;
    throw err;
  }
}

/**
 * Takes up to `wanted` of the hits left in the current one-second window of `key` (at most
 * `limit` per window, shared with `consumeRateLimit` on the same key). Returns how many were
 * granted (possibly 0) and the milliseconds until the next window starts.
 */
export async function reserveRateSlots(
  db: Database,
  key: string,
  limit: number,
  wanted: number,
): Promise<{ granted: number; nextWindowMs: number }> {
  return db.transaction(async (tx) => {
    // The upsert locks the window's row until this transaction ends and returns its latest count.
    const [window] = await tx.query<{ start: string; hits: number; next_ms: number; created: boolean }>(sql`
      WITH now AS (SELECT clock_timestamp() AS at)
      INSERT INTO rate_limit_counters (key, window_start, hits)
      SELECT ${key}, to_timestamp(floor(extract(epoch FROM at))), 0 FROM now
      ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits
      RETURNING window_start::text AS start, hits, (xmax = 0) AS created,
        (1000 - mod((extract(epoch FROM clock_timestamp()) * 1000)::numeric, 1000))::float8 AS next_ms`);
    const { start, hits, created } = window!;
    const granted = Math.max(0, Math.min(wanted, limit - hits));
    if (granted > 0) {
      await tx.query(sql`
        UPDATE rate_limit_counters SET hits = hits + ${granted}
        WHERE key = ${key} AND window_start = ${start}::timestamptz`);
    }
    if (created) {
      await tx.query(sql`
        DELETE FROM rate_limit_counters
        WHERE key = ${key} AND window_start < ${start}::timestamptz - interval '2 seconds'`);
    }
    return { granted, nextWindowMs: Math.max(1, Math.ceil(Number(window!.next_ms))) };
  });
}
