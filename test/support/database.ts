import { randomBytes } from "node:crypto";
import pg from "pg";
import {
  type Database,
  type Engine,
  openPglite,
  openPostgres,
  type PostgresOptions,
} from "../../src/db/database.ts";

/**
 * Which engine this test run uses: `PARLEY_TEST_ENGINE=postgres` (with `TEST_DATABASE_URL`)
 * or embedded PGlite (the default). `npm test` runs the suite once per available engine.
 */
export function testEngine(): Engine {
  const engine = process.env.PARLEY_TEST_ENGINE ?? "pglite";
  if (engine === "postgres" && !process.env.TEST_DATABASE_URL) {
    throw new Error("PARLEY_TEST_ENGINE=postgres needs TEST_DATABASE_URL");
  }
  return engine === "postgres" ? "postgres" : "pglite";
}

export interface ProvisionedDatabase {
  /** Set for PostgreSQL: a database created for this test alone. */
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

/** A fresh, empty database on the test engine (PostgreSQL: a new database; PGlite: nothing to create). */
export async function provisionDatabase(): Promise<ProvisionedDatabase> {
  if (testEngine() === "pglite") return { databaseUrl: undefined, drop: async () => {} };
  const adminUrl = process.env.TEST_DATABASE_URL!;
  const name = `parley_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Opens a fresh database on the test engine; closing it also drops it. */
export async function openTestDatabase(options: PostgresOptions = {}): Promise<Database> {
  const provisioned = await provisionDatabase();
  const db = provisioned.databaseUrl
    ? await openPostgres(provisioned.databaseUrl, { poolSize: 5, ...options })
    : await openPglite(undefined, options);
  const close = db.close;
  return Object.assign(db, {
    async close() {
      await close();
      await provisioned.drop();
    },
  });
}
