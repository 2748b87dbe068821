import sql from "sql-template-tag";
import type { Database, Queryable } from "./database.ts";
import { groupCommit } from "./group-commit.ts";

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

class Refused extends Error {}

/**
 * Counts `n` hits against window `w` unless they do not all fit (one statement: the
 * conditional upsert counts and checks atomically). The first hits of a new window also clear
 * the key's old windows, so cleaning costs one statement per window rather than one per hit.
 */
async function countHits(
  q: Queryable,
  w: RateWindow,
  n = 1,
): Promise<RateWindowState & { counted: boolean }> {
  const [row] = await q.query<{ hits: number; reset: number; created: boolean }>(sql`
    WITH now AS (SELECT clock_timestamp() AS at)
    INSERT INTO rate_limit_counters (key, window_start, hits)
    SELECT ${w.key}, to_timestamp(floor(extract(epoch FROM at) / ${w.seconds}) * ${w.seconds}), ${n} FROM now
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + ${n}
      WHERE rate_limit_counters.hits + ${n} <= ${w.limit}
    RETURNING hits, (xmax = 0) AS created,
      extract(epoch FROM window_start) + ${w.seconds} - extract(epoch FROM clock_timestamp()) AS reset`);
  if (!row) {
    const elapsed = (Date.now() / 1000) % w.seconds;
    return {
      counted: false,
      limit: w.limit,
      remaining: 0,
      resetSeconds: Math.max(1, Math.ceil(w.seconds - elapsed)),
    };
  }
  if (row.created) {
    await q.query(sql`
      DELETE FROM rate_limit_counters
      WHERE key = ${w.key} AND window_start < clock_timestamp() - make_interval(secs => ${w.seconds * 2})`);
  }
  return {
    counted: true,
    limit: w.limit,
    remaining: Math.max(0, w.limit - row.hits),
    resetSeconds: Math.max(1, Math.ceil(Number(row.reset))),
  };
}

/** The decision on one hit from what counting it did in each window. */
function decide(states: (RateWindowState & { counted: boolean })[]): RateDecision {
  const refused = states.filter((w) => !w.counted);
  return {
    allowed: refused.length === 0,
    // A refused hit is counted nowhere, so the windows it did count get it back.
    windows: states.map(({ counted, limit, remaining, resetSeconds }) => ({
      limit,
      remaining: refused.length > 0 && counted ? Math.min(limit, remaining + 1) : remaining,
      resetSeconds,
    })),
    retryAfterSeconds: Math.max(0, ...refused.map((w) => w.resetSeconds)),
  };
}

/**
 * Counts one hit against every window, in the database so that all processes share the
 * counts. A refused hit is not counted in any window (with several windows their counts roll
 * back together), so a client that keeps calling while limited does not extend its own wait.
 */
export async function consumeRateLimit(db: Database, windows: RateWindow[]): Promise<RateDecision> {
  if (windows.length === 1) return decide([await countHits(db, windows[0]!)]);
  let decision: RateDecision | undefined;
  try {
    await db.transaction(async (tx) => {
      const states = [];
      for (const w of windows) states.push(await countHits(tx, w));
      decision = decide(states);
      if (!decision.allowed) throw new Refused();
    });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
  }
  return decision!;
}

const hitCounters = new WeakMap<Database, (w: RateWindow) => Promise<RateDecision>>();

/**
 * `consumeRateLimit` of a single window, for callers hitting at the same time (a number's
 * concurrent sends): the hits on one key are counted with one statement when they all fit in
 * its window, else one at a time, each allowed or refused on its own.
 */
export function consumeRateHit(db: Database, w: RateWindow): Promise<RateDecision> {
  let count = hitCounters.get(db);
  if (!count) {
    count = groupCommit<RateWindow, RateDecision>(
      db,
      async (q, hits) => {
        const decisions = new Map<RateWindow, RateDecision>();
        for (const sameKey of Map.groupBy(hits, (h) => h.key).values()) {
          const first = sameKey[0]!;
          const all = sameKey.length <= first.limit ? await countHits(q, first, sameKey.length) : undefined;
          for (const [i, hit] of sameKey.entries()) {
            const state = all?.counted
              ? { ...all, remaining: Math.max(0, all.remaining + sameKey.length - 1 - i) }
              : await countHits(q, hit);
            decisions.set(hit, decide([state]));
          }
        }
        return hits.map((h) => decisions.get(h)!);
      },
      { maxBatch: 100, parallel: 2, transaction: false },
    );
    hitCounters.set(db, count);
  }
  return count(w);
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
