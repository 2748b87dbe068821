import type { Database } from "./database.ts";

/**
 * A read by key whose answers are kept in memory until a change is announced on `channel`
 * (NOTIFY with the key as payload, sent by a trigger once the change commits, whichever path
 * or process made it), or for `keepMs`: the backstop for a missed announcement (a lost
 * listening connection). A read that overlapped an announcement is not kept. `undefined` is
 * never kept, so keys that can be made up (ids in unsigned requests) cannot fill memory.
 */
export function announcedCache<R>(options: {
  channel: string;
  keepMs: number;
  read: (db: Database, key: string) => Promise<R | undefined>;
}): (db: Database, key: string) => Promise<R | undefined> {
  interface Cache {
    kept: Map<string, { value: R; until: number }>;
    /** Counts announcements, so a read that overlapped one does not keep what it read. */
    changes: number;
    listening: Promise<unknown>;
  }
  const caches = new WeakMap<Database, Cache>();
  return async (db, key) => {
    let cache = caches.get(db);
    if (!cache) {
      const fresh: Cache = { kept: new Map(), changes: 0, listening: Promise.resolve() };
      fresh.listening = db.listen(options.channel, (changedKey) => {
        fresh.changes++;
        fresh.kept.delete(changedKey);
      });
      caches.set(db, fresh);
      cache = fresh;
    }
    await cache.listening;
    const kept = cache.kept.get(key);
    if (kept && kept.until > Date.now()) return kept.value;
    const changes = cache.changes;
    const value = await options.read(db, key);
    if (value !== undefined && cache.changes === changes)
      cache.kept.set(key, { value, until: Date.now() + options.keepMs });
    return value;
  };
}
