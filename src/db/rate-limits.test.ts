import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import type { Database } from "./database.ts";
import { migrate } from "./migrate.ts";
import { consumeRateHit, consumeRateLimit } from "./rate-limits.ts";

describe("rate limits", () => {
  let db: Database;
  before(async () => {
    db = await openTestDatabase();
    await migrate(db);
  });
  after(() => db.close());

  const hits = async (key: string) => {
    const [row] = await db.query<{ hits: number }>(
      sql`SELECT coalesce(sum(hits), 0)::int AS hits FROM rate_limit_counters WHERE key = ${key}`,
    );
    return row!.hits;
  };

  it("counts concurrent hits that fit in the window together, each told what is left after it", async () => {
    const window = { key: "test:fits", seconds: 3600, limit: 10 };
    const decisions = await Promise.all(Array.from({ length: 5 }, () => consumeRateHit(db, { ...window })));
    assert.ok(decisions.every((d) => d.allowed));
    assert.deepEqual(decisions.map((d) => d.windows[0]!.remaining).sort(), [5, 6, 7, 8, 9]);
    assert.equal(await hits(window.key), 5);
  });

  it("allows concurrent hits on one key up to the limit and refuses the rest, counting only those allowed", async () => {
    // A long window, so the burst cannot straddle two of them.
    const window = { key: "test:burst", seconds: 3600, limit: 7 };
    const decisions = await Promise.all(Array.from({ length: 20 }, () => consumeRateHit(db, { ...window })));
    const allowed = decisions.filter((d) => d.allowed);
    assert.equal(allowed.length, 7);
    assert.deepEqual(allowed.map((d) => d.windows[0]!.remaining).sort(), [0, 1, 2, 3, 4, 5, 6]);
    for (const refused of decisions.filter((d) => !d.allowed)) {
      assert.equal(refused.windows[0]!.remaining, 0);
      assert.ok(refused.retryAfterSeconds >= 1);
    }
    assert.equal(await hits(window.key), 7);
  });

  it("counts concurrent hits of different keys each against its own limit", async () => {
    const decisions = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        consumeRateHit(db, { key: `test:key-${i % 3}`, seconds: 3600, limit: 3 }),
      ),
    );
    assert.equal(decisions.filter((d) => d.allowed).length, 9);
    for (const k of [0, 1, 2]) assert.equal(await hits(`test:key-${k}`), 3);
  });

  it("counts a refused hit in no window when it has several", async () => {
    const minute = { key: "test:minute", seconds: 3600, limit: 10 };
    const burst = { key: "test:second", seconds: 3600, limit: 1 };
    assert.equal((await consumeRateLimit(db, [minute, burst])).allowed, true);
    const refused = await consumeRateLimit(db, [minute, burst]);
    assert.equal(refused.allowed, false);
    assert.equal(refused.windows[0]!.remaining, 9);
    assert.equal(await hits(minute.key), 1);
  });
});
