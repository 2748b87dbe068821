import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import type { Database } from "./database.ts";
import { batchedLookup, groupCommit } from "./group-commit.ts";

describe("groupCommit", () => {
  let db: Database;
  before(async () => {
    db = await openTestDatabase();
    await db.exec("CREATE TABLE group_commit_probe (n int PRIMARY KEY, txid bigint NOT NULL)");
  });
  after(() => db.close());

  it("writes jobs submitted together in shared transactions, each job once, in submission order", async () => {
    const batches: number[][] = [];
    const write = groupCommit<number>(
      db,
      async (tx, jobs) => {
        batches.push(jobs);
        for (const n of jobs)
          await tx.query(sql`INSERT INTO group_commit_probe (n, txid) VALUES (${n}, txid_current())`);
      },
      { maxBatch: 10, parallel: 1 },
    );
    await Promise.all(Array.from({ length: 25 }, (_, i) => write(i)));
    // The first job starts alone on the idle writer; the rest wait and go in batches of ten at most.
    assert.deepEqual(batches[0], [0]);
    assert.ok(batches.every((b) => b.length <= 10));
    assert.deepEqual(
      batches.flat(),
      Array.from({ length: 25 }, (_, i) => i),
    );
    assert.ok(batches.length < 25, `${batches.length} transactions for 25 jobs`);
    const [{ transactions }] = (await db.query<{ transactions: number }>(
      sql`SELECT count(DISTINCT txid)::int AS transactions FROM group_commit_probe`,
    )) as [{ transactions: number }];
    assert.equal(transactions, batches.length);
  });

  it("answers each job with what the writer returned at its index", async () => {
    const square = groupCommit<number, number>(db, async (_tx, jobs) => jobs.map((n) => n * n), {
      maxBatch: 4,
      parallel: 2,
    });
    assert.deepEqual(
      await Promise.all(Array.from({ length: 10 }, (_, i) => square(i))),
      Array.from({ length: 10 }, (_, i) => i * i),
    );
  });

  it("fails only the job that fails: the rest of its batch is written again, each alone", async () => {
    await db.exec("TRUNCATE group_commit_probe");
    const write = groupCommit<number>(
      db,
      async (tx, jobs) => {
        for (const n of jobs) {
          if (n === 13) throw new Error("job 13 is bad");
          await tx.query(sql`INSERT INTO group_commit_probe (n, txid) VALUES (${n}, txid_current())`);
        }
      },
      { maxBatch: 50, parallel: 1 },
    );
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => write(i)));
    const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [[i, String(r.reason)]] : []));
    assert.deepEqual(rejected, [[13, "Error: job 13 is bad"]]);
    const rows = await db.query<{ n: number }>(sql`SELECT n FROM group_commit_probe ORDER BY n`);
    assert.deepEqual(
      rows.map((r) => r.n),
      Array.from({ length: 20 }, (_, i) => i).filter((n) => n !== 13),
    );
  });

  it("runs a one-statement writer without a transaction around it when told so", async () => {
    await db.exec("TRUNCATE group_commit_probe");
    const write = groupCommit<number>(
      db,
      async (q, jobs) => {
        // Outside a transaction, each statement gets a transaction id of its own.
        for (const n of jobs)
          await q.query(sql`INSERT INTO group_commit_probe (n, txid) VALUES (${n}, txid_current())`);
      },
      { maxBatch: 10, parallel: 1, transaction: false },
    );
    await Promise.all(Array.from({ length: 6 }, (_, i) => write(i)));
    const [{ transactions }] = (await db.query<{ transactions: number }>(
      sql`SELECT count(DISTINCT txid)::int AS transactions FROM group_commit_probe`,
    )) as [{ transactions: number }];
    assert.equal(transactions, 6);
  });

  it("answers lookups asked together from one read of their distinct keys", async () => {
    const reads: number[][] = [];
    const lookUp = batchedLookup<number, string>(async (q, keys) => {
      reads.push(keys);
      const rows = await q.query<{ n: number }>(
        sql`SELECT n FROM unnest(${keys}::int[]) AS n WHERE n % 2 = 0`,
      );
      return new Map(rows.map(({ n }) => [n, `even ${n}`]));
    });
    const keys = [2, 3, 4, 2, 5, 4, 6];
    const answers = await Promise.all(keys.map((k) => lookUp(db, k)));
    assert.deepEqual(answers, ["even 2", undefined, "even 4", "even 2", undefined, "even 4", "even 6"]);
    // The first two keys go alone to the two idle readers; the rest wait and are read together,
    // each key once.
    assert.deepEqual(reads, [[2], [3], [4, 2, 5, 6]]);
  });
});
