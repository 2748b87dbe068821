import { createHash } from "node:crypto";
import fs from "node:fs";
import { PGlite, parse, protocol } from "@electric-sql/pglite";
import pg from "pg";
import type { Sql } from "sql-template-tag";

export type Row = Record<string, unknown>;

/** Anything that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  /** Runs one parameterised statement built with the `sql` tag. */
  query<T = Row>(query: Sql): Promise<T[]>;
  /** The same, from raw text and `$n` parameters (used by adapters such as pg-boss's). */
  execute<T = Row>(text: string, values?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export type Engine = "pglite" | "postgres";

export interface Database extends Queryable {
  readonly engine: Engine;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to a NOTIFY channel; the returned function unsubscribes. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** The underlying PGlite instance, when embedded (pg-boss runs on it directly). */
  readonly pglite?: PGlite;
  /** The server's connection string, when on PostgreSQL (pg-boss opens its own pool with it). */
  readonly connectionString?: string;
}

const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Timestamps leave the database as ISO 8601 strings with microseconds and `Z`
 * (`2026-03-26T15:05:00.123456Z`), the precision PostgreSQL keeps, so a value read
 * back into a cursor compares exactly. Sessions run in UTC; any other offset falls back to Date.
 */
export function parseTimestamptz(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/.exec(text);
  if (match) return `${match[1]}T${match[2]}.${(match[3] ?? "").padEnd(6, "0")}Z`;
  return new Date(text).toISOString();
}

const parseBigint = (text: string) => Number(text);

const pgliteParsers = {
  [TIMESTAMPTZ_OID]: parseTimestamptz,
  [INT8_OID]: parseBigint,
  [NUMERIC_OID]: parseBigint,
};

const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === TIMESTAMPTZ_OID) return parseTimestamptz;
    if (oid === INT8_OID || oid === NUMERIC_OID) return parseBigint;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

const { serialize } = protocol;

function concatMessages(parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/**
 * Runs named prepared statements on PGlite through its wire protocol, which its own `query`
 * does not offer (it parses and plans every call). The statement is parsed once (with its
 * parameter types remembered); each call then binds, describes and executes it in one message.
 * Callers hold PGlite's locks the way its `query` does.
 */
function pglitePreparedStatements(db: PGlite, planLifetimeMs: number) {
  const parameterTypes = new Map<string, number[]>();
  let plansSince = Date.now();
  return async <T>(name: string, text: string, values: unknown[]): Promise<T[]> => {
    const now = Date.now();
    if (now - plansSince >= planLifetimeMs) {
      plansSince = now;
      await db.execProtocol(serialize.query("DISCARD PLANS"), { syncToFs: false });
    }
    let types = parameterTypes.get(name);
    if (!types) {
      const { messages } = await db.execProtocol(
        concatMessages([
          serialize.parse({ name, text }),
          serialize.describe({ type: "S", name }),
          serialize.sync(),
        ]),
        { syncToFs: false },
      );
      const description = messages.find((m) => m.name === "parameterDescription") as
        | { dataTypeIDs: number[] }
        | undefined;
      types = description?.dataTypeIDs ?? [];
      parameterTypes.set(name, types);
    }
    const params = values.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = db.serializers[types[i]!];
      return serializer ? serializer(value) : String(value);
    });
    const { messages } = await db.execProtocol(
      concatMessages([
        serialize.bind({ statement: name, values: params }),
        serialize.describe({ type: "P" }),
        serialize.execute({}),
        serialize.sync(),
      ]),
      { syncToFs: false },
    );
    return (parse.parseResults(messages, db.parsers, { parsers: pgliteParsers })[0]?.rows ?? []) as T[];
  };
}

function pgliteQueryable(
  db: PGlite,
  target: Pick<PGlite, "query" | "exec">,
  prepared: ReturnType<typeof pglitePreparedStatements>,
  inTransaction: boolean,
): Queryable {
  const execute = async <T>(text: string, values?: unknown[]) => {
    const name = statementName(text, values);
    if (!name) {
      const result = await target.query<T>(text, values as unknown[], { parsers: pgliteParsers });
      return { rows: result.rows };
    }
    // The locks PGlite's own query takes: outside a transaction, wait for any open one.
    const run = () =>
      db._runExclusiveQuery(async () => {
        const rows = await prepared<T>(name, text, values!);
        if (!inTransaction) await db.syncToFs();
        return rows;
      });
    return { rows: await (inTransaction ? run() : db._runExclusiveTransaction(run)) };
  };
  return {
    execute,
    query: async <T>(q: Sql) => (await execute<T>(q.text, q.values)).rows,
    exec: async (script) => {
      await target.exec(script);
    },
  };
}

/** Embedded PostgreSQL persisted under `dataDir`; `undefined` keeps it in memory (tests). */
export async function openPglite(dataDir: string | undefined, options: OpenOptions = {}): Promise<Database> {
  if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  await db.exec("SET TIME ZONE 'UTC'");
  const prepared = pglitePreparedStatements(db, options.planLifetimeMs ?? PLAN_LIFETIME_MS);
  const base = pgliteQueryable(db, db, prepared, false);
  return {
    engine: "pglite",
    pglite: db,
    ...base,
    transaction: (fn) => db.transaction((tx) => fn(pgliteQueryable(db, tx, prepared, true))),
    listen: (channel, onPayload) => db.listen(channel, onPayload),
    close: () => db.close(),
  };
}

/**
 * A parameterised statement of bounded size runs as a named prepared statement, so each pooled
 * connection (or the one PGlite session) parses and plans it once instead of on every call
 * (planning costs more than running most of Parley's statements: the batch statements of
 * ingest spent as long being planned as running). The name is a hash of the text, remembered
 * per text. Statements with many values or a long text (bulk inserts, whose text grows with
 * their rows) stay unnamed, which bounds how many statements a connection keeps.
 */
const MAX_PREPARED_VALUES = 100;
const MAX_PREPARED_TEXT = 8_000;
const statementNames = new Map<string, string>();

function statementName(text: string, values: unknown[] | undefined): string | undefined {
  if (!values?.length || values.length > MAX_PREPARED_VALUES || text.length > MAX_PREPARED_TEXT)
    return undefined;
  let name = statementNames.get(text);
  if (!name) {
    // Bounded anyway (Parley's statements are fixed texts); a safety valve all the same.
    if (statementNames.size >= 10_000) statementNames.clear();
    name = `parley_${createHash("sha1").update(text).digest("base64url")}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * How long a session keeps the plans of its prepared statements before `DISCARD PLANS`. A plan
 * is made for the table sizes of its time: one made while a table was fresh and nearly empty
 * (a new install, a broadcast's recipient list being filled) keeps scanning that table whole
 * after it has grown, until an ANALYZE invalidates it (up to a minute or more later; a
 * 10,000-recipient broadcast once spent a third of PostgreSQL's time that way). Replanning
 * every few seconds bounds that at the cost of one planning per statement per session per period.
 */
const PLAN_LIFETIME_MS = 5_000;

export interface OpenOptions {
  /** How long a session keeps its statements' plans (tests shorten it). */
  planLifetimeMs?: number;
}

export interface PostgresOptions extends OpenOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

function pgQueryable(target: pg.Pool | pg.PoolClient): Queryable {
  const execute = async <T>(text: string, values?: unknown[]) => {
    const name = statementName(text, values);
    const result = await target.query(name ? { name, text, values } : { text, values });
    return { rows: result.rows as T[] };
  };
  return {
    execute,
    query: async <T>(q: Sql) => (await execute<T>(q.text, q.values)).rows,
    exec: async (script) => {
      await target.query(script);
    },
  };
}

/** A real PostgreSQL server through a connection pool. */
export async function openPostgres(
  connectionString: string,
  options: PostgresOptions = {},
): Promise<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    types: pgTypes,
    options: "-c TimeZone=UTC",
  });
  const planLifetimeMs = options.planLifetimeMs ?? PLAN_LIFETIME_MS;
  pool.on("error", () => {
    // An idle client lost its connection; the pool replaces it on next use.
  });
  const plansSince = new WeakMap<pg.PoolClient, number>();
  pool.on("connect", (client) => plansSince.set(client, Date.now()));
  pool.on("acquire", (client) => {
    const now = Date.now();
    if (now - (plansSince.get(client) ?? now) < planLifetimeMs) return;
    plansSince.set(client, now);
    // Queued ahead of whatever the client was acquired for; a failure shows on that query.
    client.query("DISCARD PLANS").catch(() => {});
  });
  await pool.query("SELECT 1");
  const base = pgQueryable(pool);
  let listener: pg.Client | undefined;
  const subscribers = new Map<string, Set<(payload: string) => void>>();

  async function listenerClient(): Promise<pg.Client> {
    if (listener) return listener;
    const client = new pg.Client({ connectionString, types: pgTypes });
    await client.connect();
    client.on("notification", (msg) => {
      for (const fn of subscribers.get(msg.channel) ?? []) fn(msg.payload ?? "");
    });
    client.on("error", () => {
      // Surfaced as missed notifications; realtime consumers catch up on reconnect.
    });
    listener = client;
    return client;
  }

  return {
    engine: "postgres",
    connectionString,
    ...base,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(pgQueryable(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async listen(channel, onPayload) {
      const client = await listenerClient();
      let set = subscribers.get(channel);
      if (!set) {
        set = new Set();
        subscribers.set(channel, set);
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onPayload);
      return async () => {
        set.delete(onPayload);
      };
    },
    async close() {
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}

export function openDatabase(options: { databaseUrl?: string; dataDir?: string }): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openPglite(options.dataDir);
}
