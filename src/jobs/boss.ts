import type { FastifyBaseLogger } from "fastify";
import { type Db, fromPglite, PgBoss } from "pg-boss";
import type { Database, Queryable } from "../db/database.ts";

/**
 * Starts pg-boss on the same database as everything else: through PGlite's adapter when
 * embedded, through its own small pool on a real server. Its tables live in schema `pgboss`.
 */
export async function startJobQueue(db: Database, log: FastifyBaseLogger): Promise<PgBoss> {
  // Expired and heartbeat-lost jobs (a killed process's) are found every 10 s, not every minute.
  const maintenance = { superviseIntervalSeconds: 10, monitorIntervalSeconds: 10 };
  const boss = db.pglite
    ? new PgBoss({ db: fromPglite(db.pglite), backend: "pglite", ...maintenance })
    : new PgBoss({
        connectionString: db.connectionString,
        max: 5,
        application_name: "parley-jobs",
        ...maintenance,
      });
  boss.on("error", (err) => log.error({ err }, "job queue error"));
  await boss.start();
  return boss;
}

export async function stopJobQueue(boss: PgBoss): Promise<void> {
  await boss.stop({ graceful: true, timeout: 5_000, close: true });
}

/**
 * Send options that write the job through an open transaction: the job exists if and only if
 * the transaction commits (the transactional outbox).
 */
export function inTransaction(tx: Queryable): { db: Db } {
  return { db: { executeSql: (text, values) => tx.execute(text, values) } };
}
