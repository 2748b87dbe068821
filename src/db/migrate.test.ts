import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import type { Database } from "./database.ts";
import { loadMigrations, migrate } from "./migrate.ts";

let db: Database;
before(async () => {
  db = await openTestDatabase();
});
after(() => db.close());

describe("migrate", () => {
  it("applies every shipped migration once, in order, and then nothing", async () => {
    const shipped = loadMigrations().map((m) => m.version);
    assert.ok(shipped.length >= 1);
    assert.deepEqual(shipped, [...shipped].sort());
    assert.deepEqual(await migrate(db), shipped);
    assert.deepEqual(await migrate(db), []);
    const recorded = await db.query<{ version: string }>(
      sql`SELECT version FROM schema_migrations ORDER BY version`,
    );
    assert.deepEqual(
      recorded.map((r) => r.version),
      shipped,
    );
  });

  it("applies a later migration on top, and rolls back a failing one entirely", async () => {
    const base = loadMigrations();
    const extra = { version: "9990_extra", script: "CREATE TABLE migrate_probe (id int);" };
    assert.deepEqual(await migrate(db, [...base, extra]), ["9990_extra"]);
    const broken = {
      version: "9991_broken",
      script: "CREATE TABLE migrate_probe_2 (id int); SELECT no_such_function();",
    };
    await assert.rejects(migrate(db, [...base, extra, broken]));
    const tables = await db.query(
      sql`SELECT 1 FROM information_schema.tables WHERE table_name = 'migrate_probe_2'`,
    );
    assert.equal(tables.length, 0, "the failed migration left nothing behind");
    const recorded = await db.query(sql`SELECT 1 FROM schema_migrations WHERE version = '9991_broken'`);
    assert.equal(recorded.length, 0);
  });

  it("lets concurrent migrators run without applying anything twice", async () => {
    const extra = { version: "9992_concurrent", script: "CREATE TABLE migrate_probe_3 (id int);" };
    const migrations = [...loadMigrations(), extra];
    const results = await Promise.all([
      migrate(db, migrations),
      migrate(db, migrations),
      migrate(db, migrations),
    ]);
    assert.deepEqual(results.flat(), ["9992_concurrent"]);
  });
});
