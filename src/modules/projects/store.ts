import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";

export interface ProjectRow {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export async function insertProject(db: Queryable, name: string): Promise<ProjectRow> {
  const [row] = await db.query<ProjectRow>(
    sql`INSERT INTO projects (name) VALUES (${name}) RETURNING id, name, created_at`,
  );
  return row!;
}

export function listProjects(db: Queryable): Promise<ProjectRow[]> {
  return db.query<ProjectRow>(sql`SELECT id, name, created_at FROM projects ORDER BY created_at, id`);
}

export async function findProject(db: Queryable, id: string): Promise<ProjectRow | undefined> {
  const [row] = await db.query<ProjectRow>(sql`SELECT id, name, created_at FROM projects WHERE id = ${id}`);
  return row;
}

export async function countProjects(db: Queryable): Promise<number> {
  const [row] = await db.query<{ count: number }>(sql`SELECT count(*) AS count FROM projects`);
  return row!.count;
}

export async function insertApiKey(
  db: Queryable,
  key: { projectId: string; name: string; prefix: string; keyHash: string },
): Promise<ApiKeyRow> {
  const [row] = await db.query<ApiKeyRow>(sql`
    INSERT INTO api_keys (project_id, name, prefix, key_hash)
    VALUES (${key.projectId}, ${key.name}, ${key.prefix}, ${key.keyHash})
    RETURNING *`);
  return row!;
}

/** Active keys with any of `prefixes` (in practice one each); the caller compares hashes in constant time. */
export function findActiveApiKeysByPrefixes(db: Queryable, prefixes: string[]): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow>(
    sql`SELECT * FROM api_keys WHERE prefix = ANY(${prefixes}::text[]) AND revoked_at IS NULL`,
  );
}

export function listApiKeys(db: Queryable, projectId: string): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow>(
    sql`SELECT * FROM api_keys WHERE project_id = ${projectId} ORDER BY created_at DESC, id DESC`,
  );
}

export async function revokeApiKey(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<ApiKeyRow | undefined> {
  const [row] = await db.query<ApiKeyRow>(sql`
    UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())
    WHERE project_id = ${projectId} AND id = ${id}
    RETURNING *`);
  return row;
}

/** When this process last recorded each key's use (milliseconds since the epoch). */
const touchedAt = new Map<string, number>();

/**
 * Records use at most once a minute per key, so a busy key does not write on every request:
 * the database skips a write within the minute, and this process does not even ask.
 */
export async function touchApiKey(db: Queryable, id: string): Promise<void> {
  const now = Date.now();
  if (now - (touchedAt.get(id) ?? 0) < 60_000) return;
  touchedAt.set(id, now);
  await db.query(sql`
    UPDATE api_keys SET last_used_at = clock_timestamp()
    WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < clock_timestamp() - interval '1 minute')`);
}
