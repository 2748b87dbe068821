import type { Database, Queryable } from "./database.ts";

export interface GroupCommitOptions {
  /** Most jobs one transaction takes. */
  maxBatch: number;
  /** Transactions in flight at once; jobs wait (and batch up) while all are busy. */
  parallel: number;
  /**
   * False for a writer that makes one statement per batch: it runs on the database itself,
   * without BEGIN and COMMIT around it (a statement is its own transaction).
   */
  transaction?: boolean;
}

/**
 * Group commit: jobs submitted while earlier ones are being written are written together, in
 * one transaction, by one call of `write`, so a burst pays for one transaction (and whatever
 * `write` does once per batch) instead of one each. A lone job on an idle writer starts at
 * once (no waiting to fill a batch). Each job's promise settles when the transaction holding
 * it commits, with what `write` answered for it (its result at the job's index), if anything.
 * When a batch fails (one bad job, or a deadlock with another writer) every job of it is
 * written again alone, so one job's error is its own and never anyone else's.
 */
export function groupCommit<J, R = void>(
  db: Database,
  // biome-ignore lint/suspicious/noConfusingVoidType: a writer with nothing to answer returns nothing
  write: (tx: Queryable, jobs: J[]) => Promise<R[] | void>,
  options: GroupCommitOptions,
): (job: J) => Promise<R> {
  const waiting: { job: J; settle: (err: unknown, result?: R) => void }[] = [];
  let running = 0;

  async function commit(batch: typeof waiting): Promise<void> {
    try {
      const jobs = batch.map((b) => b.job);
      const results =
        options.transaction === false ? await write(db, jobs) : await db.transaction((tx) => write(tx, jobs));
      for (const [i, b] of batch.entries()) b.settle(undefined, results?.[i]);
    } catch (err) {
      if (batch.length === 1) return batch[0]!.settle(err ?? new Error("transaction failed"));
      for (const b of batch) await commit([b]);
    }
  }

  function pump(): void {
    while (running < options.parallel && waiting.length > 0) {
      const batch = waiting.splice(0, options.maxBatch);
      running++;
      void commit(batch).finally(() => {
        running--;
        pump();
      });
    }
  }

  return (job) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({
        job,
        settle: (err, result) => (err === undefined ? resolve(result as R) : reject(err)),
      });
      pump();
    });
}

/**
 * A read by key that callers asking at the same time share: `readMany` runs once for a burst
 * of distinct keys (one statement, straight on the database) and answers each key it found.
 * One reader per database, made on first use.
 */
export function batchedLookup<K, R>(
  readMany: (db: Queryable, keys: K[]) => Promise<Map<K, R>>,
): (db: Database, key: K) => Promise<R | undefined> {
  const readers = new WeakMap<Database, (key: K) => Promise<R | undefined>>();
  return (db, key) => {
    let read = readers.get(db);
    if (!read) {
      read = groupCommit<K, R | undefined>(
        db,
        async (q, keys) => {
          const found = await readMany(q, [...new Set(keys)]);
          return keys.map((k) => found.get(k));
        },
        { maxBatch: 100, parallel: 2, transaction: false },
      );
      readers.set(db, read);
    }
    return read(key);
  };
}
