import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import type { Database } from "./database.ts";
import { recordset } from "./sql.ts";

// Parameterised statements run as named prepared statements on both engines (on PGlite through
// its wire protocol); these check that a statement behaves the same on its first call and after.
describe("database statements", () => {
  let db: Database;
  before(async () => {
    db = await openTestDatabase();
    await db.exec(`CREATE TABLE statement_probe (
      id int PRIMARY KEY, note text, tags text[], body jsonb, big bigint, flag boolean,
      at timestamptz NOT NULL DEFAULT '2026-03-26 15:05:00.123456+00')`);
  });
  after(() => db.close());

  const insert = (
    id: number,
    note: string | null,
    tags: string[],
    body: unknown,
    big: number,
    flag: boolean,
  ) =>
    db.query<Record<string, unknown>>(sql`
      INSERT INTO statement_probe (id, note, tags, body, big, flag)
      VALUES (${id}, ${note}, ${tags}, ${JSON.stringify(body)}::jsonb, ${big}, ${flag})
      RETURNING *`);

  it("reads and writes every kind of value the same way on each call of a statement", async () => {
    for (const id of [1, 2, 3]) {
      const [row] = await insert(
        id,
        id === 2 ? null : `note ${id}`,
        ["a", `b${id}`],
        { n: id, ok: true },
        2 ** 40 + id,
        id % 2 === 0,
      );
      assert.deepEqual(row, {
        id,
        note: id === 2 ? null : `note ${id}`,
        tags: ["a", `b${id}`],
        body: { n: id, ok: true },
        big: 2 ** 40 + id,
        flag: id % 2 === 0,
        at: "2026-03-26T15:05:00.123456Z",
      });
    }
    const rows = await db.query<{ id: number }>(
      sql`SELECT id FROM statement_probe WHERE id = ANY(${[1, 3]}::int[]) ORDER BY id`,
    );
    assert.deepEqual(rows, [{ id: 1 }, { id: 3 }]);
  });

  it("reports a failed statement's SQLSTATE and runs the same statement again afterwards", async () => {
    await assert.rejects(
      insert(1, "again", [], {}, 0, false),
      (err: { code?: string }) => err.code === "23505",
    );
    const [row] = await insert(10, "after the failure", [], {}, 0, false);
    assert.equal(row?.note, "after the failure");
  });

  it("keeps a statement run outside a transaction out of a concurrent one that rolls back", async () => {
    const countRolledBack = () =>
      db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM statement_probe WHERE id = ${99}`);
    await countRolledBack(); // prepared before the transaction
    let outside: Promise<{ n: number }[]> | undefined;
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO statement_probe (id, note) VALUES (${99}, ${"uncommitted"})`);
        outside = countRolledBack();
        await sleep(50);
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(await outside, [{ n: 0 }]);
    assert.deepEqual(await countRolledBack(), [{ n: 0 }]);
  });

  it("keeps a statement first prepared in a transaction that rolled back", async () => {
    const noteOf = (q: Pick<Database, "query">, id: number) =>
      q.query<{ note: string }>(sql`SELECT note || ${"!"} AS note FROM statement_probe WHERE id = ${id}`);
    await assert.rejects(
      db.transaction(async (tx) => {
        assert.deepEqual(await noteOf(tx, 1), [{ note: "note 1!" }]);
        throw new Error("roll back");
      }),
    );
    assert.deepEqual(await noteOf(db, 3), [{ note: "note 3!" }]);
  });
});

// A batch statement's plan is made for the table sizes of its time; the session drops its plans
// every `planLifetimeMs`, so a plan made while a table was empty does not outlive its growth.
describe("plans of prepared statements", () => {
  const probeTable = `CREATE TABLE plan_probe (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false)`;
  const lookUp = (db: Database, ids: number[]) =>
    db.query<{ note: string }>(sql`
      SELECT p.note FROM ${recordset(
        ids.map((id) => ({ id })),
        sql`id int`,
      )} AS r JOIN plan_probe p ON p.id = r.id`);

  /** The plan the session's prepared `lookUp` statement would run with now. */
  async function cachedPlan(db: Database): Promise<string> {
    const [statement] = await db.query<{ name: string }>(
      sql`SELECT name FROM pg_prepared_statements WHERE statement LIKE ${"%plan_probe p%"}`,
    );
    assert.ok(statement, "the lookup runs as a prepared statement");
    const rows = await db.execute<{ "QUERY PLAN": string }>(
      `EXPLAIN EXECUTE "${statement.name}"('[{"id": 1}]', 1)`,
    );
    return rows.rows.map((r) => r["QUERY PLAN"]).join("\n");
  }

  /** Plans `lookUp` on the empty table, then fills the table (without ANALYZE). */
  async function planThenGrow(db: Database): Promise<void> {
    // One plan kept for every call, as for the statements PostgreSQL finds no better plan for.
    await db.exec("SET plan_cache_mode = force_generic_plan");
    await db.exec(probeTable);
    assert.deepEqual(await lookUp(db, [1]), []);
    await db.exec("INSERT INTO plan_probe SELECT n, 'note ' || n FROM generate_series(1, 20000) n");
  }

  it("keeps a plan made on an empty table until the session drops its plans", async () => {
    const db = await openTestDatabase({ poolSize: 1, planLifetimeMs: 3_600_000 });
    try {
      await planThenGrow(db);
      assert.deepEqual(await lookUp(db, [7]), [{ note: "note 7" }]);
      assert.match(await cachedPlan(db), /Seq Scan on plan_probe/);
    } finally {
      await db.close();
    }
  });

  it("replans after the plan lifetime, and then looks rows up by index", async () => {
    const db = await openTestDatabase({ poolSize: 1, planLifetimeMs: 200 });
    try {
      await planThenGrow(db);
      await sleep(250);
      assert.deepEqual(await lookUp(db, [7]), [{ note: "note 7" }]);
      const plan = await cachedPlan(db);
      assert.match(plan, /Index Scan using plan_probe_pkey/);
      assert.doesNotMatch(plan, /Seq Scan on plan_probe/);
    } finally {
      await db.close();
    }
  });
});
