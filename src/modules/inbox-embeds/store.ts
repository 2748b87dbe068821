import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { updateSet } from "../../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../../http/pagination.ts";
import type { DisplayMode, EmbedLanguage, ScopeType } from "./schemas.ts";

export interface InboxEmbedRow {
  id: string;
  project_id: string;
  name: string | null;
  scope_type: ScopeType;
  scope_id: string | null;
  scope_name: string | null;
  assigned_user_id: string | null;
  assigned_user_name: string | null;
  status: "active" | "revoked";
  allowed_origins: string[];
  default_mode: DisplayMode;
  language: EmbedLanguage;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface InboxEmbedFilters {
  status?: string;
  scopeType?: string;
  scopeId?: string;
  assignedUserId?: string;
}

// Labels are looked up when read, so a renamed customer or number shows its current name.
const SELECT = sql`
  SELECT e.id, e.project_id, e.name, e.scope_type, e.scope_id,
         CASE e.scope_type
           WHEN 'customer' THEN c.name
           WHEN 'phone_number' THEN COALESCE(pn.name, pn.verified_name, pn.display_phone_number)
         END AS scope_name,
         e.assigned_user_id, u.name AS assigned_user_name, e.status, e.allowed_origins,
         e.default_mode, e.language, e.expires_at, e.last_used_at, e.created_at, e.updated_at
  FROM inbox_embeds e
  LEFT JOIN customers c
    ON e.scope_type = 'customer' AND c.project_id = e.project_id AND c.id::text = e.scope_id
  LEFT JOIN phone_numbers pn
    ON e.scope_type = 'phone_number' AND pn.project_id = e.project_id
       AND pn.phone_number_id = e.scope_id AND pn.deleted_at IS NULL
  LEFT JOIN project_members m ON m.project_id = e.project_id AND m.user_id = e.assigned_user_id
  LEFT JOIN users u ON u.id = m.user_id`;

function filterConditions(projectId: string, f: InboxEmbedFilters): Sql[] {
  const conditions = [sql`e.project_id = ${projectId}`];
  if (f.status) conditions.push(sql`e.status = ${f.status}`);
  if (f.scopeType) conditions.push(sql`e.scope_type = ${f.scopeType}`);
  if (f.scopeId) conditions.push(sql`e.scope_id = ${f.scopeId}`);
  if (f.assignedUserId) conditions.push(sql`e.assigned_user_id = ${f.assignedUserId}`);
  return conditions;
}

export async function listInboxEmbeds(
  db: Queryable,
  projectId: string,
  filters: InboxEmbedFilters,
  page: OffsetParams,
): Promise<{ rows: InboxEmbedRow[]; total: number }> {
  const where = whereAll(filterConditions(projectId, filters));
  const rows = await db.query<InboxEmbedRow>(
    sql`${SELECT} WHERE ${where} ORDER BY e.created_at DESC, e.id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM inbox_embeds e WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

export async function findInboxEmbed(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<InboxEmbedRow | undefined> {
  const [row] = await db.query<InboxEmbedRow>(
    sql`${SELECT} WHERE e.project_id = ${projectId} AND e.id = ${id}`,
  );
  return row;
}

export async function findInboxEmbedByTokenHash(
  db: Queryable,
  tokenHash: string,
): Promise<InboxEmbedRow | undefined> {
  const [row] = await db.query<InboxEmbedRow>(sql`${SELECT} WHERE e.token_hash = ${tokenHash}`);
  return row;
}

export interface NewInboxEmbed {
  projectId: string;
  name: string | null;
  scopeType: ScopeType;
  scopeId: string | null;
  assignedUserId: string | null;
  allowedOrigins: string[];
  defaultMode: DisplayMode;
  language: EmbedLanguage;
  expiresAt: string | null;
  tokenHash: string;
}

export async function insertInboxEmbed(db: Queryable, embed: NewInboxEmbed): Promise<string> {
  const [row] = await db.query<{ id: string }>(sql`
    INSERT INTO inbox_embeds (project_id, name, scope_type, scope_id, assigned_user_id, allowed_origins,
                              default_mode, language, expires_at, token_hash)
    VALUES (${embed.projectId}, ${embed.name}, ${embed.scopeType}, ${embed.scopeId}, ${embed.assignedUserId},
            ${embed.allowedOrigins}, ${embed.defaultMode}, ${embed.language}, ${embed.expiresAt}, ${embed.tokenHash})
    RETURNING id`);
  return row!.id;
}

/** The columns a PATCH may change. */
const MUTABLE_COLUMNS = [
  "name",
  "assigned_user_id",
  "allowed_origins",
  "default_mode",
  "language",
  "expires_at",
] as const;

export interface InboxEmbedChanges {
  name?: string | null;
  assigned_user_id?: string | null;
  allowed_origins?: string[];
  default_mode?: DisplayMode;
  language?: EmbedLanguage;
  expires_at?: string | null;
}

export async function updateInboxEmbed(
  db: Queryable,
  projectId: string,
  id: string,
  changes: InboxEmbedChanges,
): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE inbox_embeds SET ${updateSet(changes, MUTABLE_COLUMNS)}
    WHERE project_id = ${projectId} AND id = ${id}
    RETURNING id`);
  return rows.length > 0;
}

export async function revokeInboxEmbed(db: Queryable, projectId: string, id: string): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE inbox_embeds
    SET status = 'revoked', updated_at = CASE WHEN status = 'revoked' THEN updated_at ELSE clock_timestamp() END
    WHERE project_id = ${projectId} AND id = ${id}
    RETURNING id`);
  return rows.length > 0;
}

/** Records a use of the embed at most once a minute (page loads and API calls are frequent). */
export async function touchInboxEmbed(db: Queryable, id: string): Promise<void> {
  await db.query(sql`
    UPDATE inbox_embeds SET last_used_at = clock_timestamp()
    WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < clock_timestamp() - interval '1 minute')`);
}
