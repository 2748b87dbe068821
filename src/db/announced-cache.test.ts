import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import { until } from "../../test/support/poll.ts";
import { announcedCache } from "./announced-cache.ts";
import type { Database } from "./database.ts";

describe("announced cache", () => {
  let db: Database;
  before(async () => {
    db = await openTestDatabase();
  });
  after(() => db.close());

  /** A cache over a read that counts its calls and answers `values[key]`. */
  const counted = (channel: string, keepMs: number, values: Record<string, string | undefined>) => {
    const reads: string[] = [];
    const lookUp = announcedCache<string>({
      channel,
      keepMs,
      read: async (_db, key) => {
        reads.push(key);
        return values[key];
      },
    });
    return { reads, lookUp };
  };

  it("keeps an answer until its key is announced, and only that key", async () => {
    const values: Record<string, string | undefined> = { a: "a1", b: "b1" };
    const { reads, lookUp } = counted("test_cache_keys", 60_000, values);
    assert.equal(await lookUp(db, "a"), "a1");
    assert.equal(await lookUp(db, "b"), "b1");
    assert.equal(await lookUp(db, "a"), "a1");
    assert.deepEqual(reads, ["a", "b"], "the second ask for a is answered from memory");
    values.a = "a2";
    values.b = "b2";
    await db.query(sql`SELECT pg_notify('test_cache_keys', 'a')`);
    assert.equal(
      await until(
        () => lookUp(db, "a"),
        (value) => value === "a2",
        { timeoutMs: 3_000, intervalMs: 10 },
      ),
      "a2",
    );
    assert.equal(await lookUp(db, "b"), "b1", "b was not announced");
  });

  it("never keeps a missing answer, and reads again once the time is up", async () => {
    const values: Record<string, string | undefined> = {};
    const { reads, lookUp } = counted("test_cache_missing", 50, values);
    assert.equal(await lookUp(db, "x"), undefined);
    values.x = "x1";
    assert.equal(await lookUp(db, "x"), "x1", "found at once after a miss");
    values.x = "x2";
    await sleep(80);
    assert.equal(await lookUp(db, "x"), "x2");
    assert.deepEqual(reads, ["x", "x", "x"]);
  });
});
