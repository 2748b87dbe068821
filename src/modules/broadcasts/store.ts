import sql, { join, type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { json } from "../../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../../http/pagination.ts";
import type { BroadcastStatus, BroadcastTemplate, ListBroadcastsFilters } from "./schemas.ts";

export interface BroadcastRow {
  id: string;
  project_id: string;
  phone_number_ref: string;
  /** Meta's id of the number (joined from phone_numbers). */
  phone_number_id: string;
  name: string;
  status: BroadcastStatus;
  template: BroadcastTemplate;
  sandbox: boolean;
  scheduled_at: string | null;
  started_at: string | null;
  stopped_at: string | null;
  completed_at: string | null;
  error: Record<string, unknown> | null;
  /** The broadcast this one was copied from (copies only). */
  copied_from: string | null;
  runner_id: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface BroadcastCounts {
  total_recipients: number;
  pending_count: number;
  sent_count: number;
  failed_count: number;
  suppressed_count: number;
  delivered_count: number;
  read_count: number;
  responded_count: number;
}

export type BroadcastWithCounts = BroadcastRow & BroadcastCounts;

export type RecipientStatus = "pending" | "sending" | "sent" | "failed" | "suppressed";

export interface RecipientRow {
  id: string;
  broadcast_id: string;
  position: number;
  phone_number: string;
  contact_id: string | null;
  components: Record<string, unknown>[];
  status: RecipientStatus;
  attempts: number;
  retry_at: string | null;
  runner_id: string | null;
  claimed_at: string | null;
  message_id: string | null;
  wamid: string | null;
  sent_at: string | null;
  failed_at: string | null;
  delivered_at: string | null;
  read_at: string | null;
  responded_at: string | null;
  error_message: string | null;
  error_details: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

// Counts come from the recipient rows themselves, so they always agree with the list. They are
// counted per broadcast in a lateral subquery: grouping the joined rows instead carried every
// broadcast column through the aggregate, which spilled to disk for 10,000 recipients.
const SELECT_WITH_COUNTS = sql`
  SELECT b.*, p.phone_number_id, counts.*
  FROM broadcasts b
  JOIN phone_numbers p ON p.id = b.phone_number_ref
  CROSS JOIN LATERAL (
    SELECT
      count(*)::int AS total_recipients,
      count(*) FILTER (WHERE r.status IN ('pending', 'sending'))::int AS pending_count,
      count(*) FILTER (WHERE r.status = 'sent')::int AS sent_count,
      count(*) FILTER (WHERE r.status = 'failed')::int AS failed_count,
      count(*) FILTER (WHERE r.status = 'suppressed')::int AS suppressed_count,
      count(*) FILTER (WHERE r.status = 'sent' AND r.delivered_at IS NOT NULL)::int AS delivered_count,
      count(*) FILTER (WHERE r.status = 'sent' AND r.read_at IS NOT NULL)::int AS read_count,
      count(*) FILTER (WHERE r.responded_at IS NOT NULL)::int AS responded_count
    FROM broadcast_recipients r WHERE r.broadcast_id = b.id) counts`;

export async function insertBroadcast(
  db: Queryable,
  b: {
    projectId: string;
    phoneNumberRef: string;
    name: string;
    template: BroadcastTemplate;
    sandbox: boolean;
    /** A copy starts `copying`, naming its source. */
    copiedFrom?: string;
  },
): Promise<string> {
  const status: BroadcastStatus = b.copiedFrom ? "copying" : "draft";
  const [row] = await db.query<{ id: string }>(sql`
    INSERT INTO broadcasts (project_id, phone_number_ref, name, template, sandbox, status, copied_from)
    VALUES (${b.projectId}, ${b.phoneNumberRef}, ${b.name}, ${json(b.template)}, ${b.sandbox},
            ${status}, ${b.copiedFrom ?? null})
    RETURNING id`);
  return row!.id;
}

export async function findBroadcast(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<BroadcastWithCounts | undefined> {
  const [row] = await db.query<BroadcastWithCounts>(
    sql`${SELECT_WITH_COUNTS} WHERE b.project_id = ${projectId} AND b.id = ${id}`,
  );
  return row;
}

/** The broadcast row locked for a state change (no counts). */
export async function lockBroadcast(
  tx: Queryable,
  projectId: string,
  id: string,
): Promise<BroadcastRow | undefined> {
  const [row] = await tx.query<BroadcastRow>(sql`
    SELECT b.*, p.phone_number_id FROM broadcasts b JOIN phone_numbers p ON p.id = b.phone_number_ref
    WHERE b.project_id = ${projectId} AND b.id = ${id}
    FOR UPDATE OF b`);
  return row;
}

export async function listBroadcasts(
  db: Queryable,
  projectId: string,
  filters: ListBroadcastsFilters,
  page: OffsetParams,
): Promise<{ rows: BroadcastWithCounts[]; total: number }> {
  const conditions: Sql[] = [sql`b.project_id = ${projectId}`];
  if (filters.phone_number_id) conditions.push(sql`p.phone_number_id = ${filters.phone_number_id}`);
  if (filters.status) conditions.push(sql`b.status = ${filters.status}`);
  if (filters.created_after) conditions.push(sql`b.created_at > ${filters.created_after}::timestamptz`);
  if (filters.created_before) conditions.push(sql`b.created_at < ${filters.created_before}::timestamptz`);
  const where = whereAll(conditions);
  const rows = await db.query<BroadcastWithCounts>(sql`
    ${SELECT_WITH_COUNTS} WHERE ${where}
    ORDER BY b.created_at DESC, b.id DESC ${limitOffset(page)}`);
  const [count] = await db.query<{ total: number }>(sql`
    SELECT count(*)::int AS total FROM broadcasts b JOIN phone_numbers p ON p.id = b.phone_number_ref
    WHERE ${where}`);
  return { rows, total: count!.total };
}

/** Sets the broadcast's lifecycle columns; `undefined` leaves a column as it is. */
export async function updateBroadcast(
  tx: Queryable,
  id: string,
  changes: {
    status?: BroadcastStatus;
    scheduled_at?: string | null;
    started_at?: string | null;
    stopped_at?: string | null;
    completed_at?: string | null;
    template?: BroadcastTemplate;
    error?: Record<string, unknown> | null;
  },
): Promise<void> {
  const sets: Sql[] = [sql`updated_at = clock_timestamp()`];
  if (changes.status !== undefined) sets.push(sql`status = ${changes.status}`);
  if (changes.scheduled_at !== undefined) sets.push(sql`scheduled_at = ${changes.scheduled_at}::timestamptz`);
  if (changes.started_at !== undefined) sets.push(sql`started_at = ${changes.started_at}::timestamptz`);
  if (changes.stopped_at !== undefined) sets.push(sql`stopped_at = ${changes.stopped_at}::timestamptz`);
  if (changes.completed_at !== undefined) sets.push(sql`completed_at = ${changes.completed_at}::timestamptz`);
  if (changes.template !== undefined) sets.push(sql`template = ${json(changes.template)}`);
  if (changes.error !== undefined)
    sets.push(sql`error = ${changes.error === null ? null : json(changes.error)}`);
  await tx.query(sql`UPDATE broadcasts SET ${join(sets, ", ")} WHERE id = ${id}`);
}

export async function countRecipients(tx: Queryable, broadcastId: string): Promise<number> {
  const [row] = await tx.query<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM broadcast_recipients WHERE broadcast_id = ${broadcastId}`,
  );
  return row!.n;
}

/**
 * Inserts recipients in one statement; a phone number the broadcast already has is skipped.
 * Returns how many were inserted.
 */
export async function insertRecipients(
  tx: Queryable,
  broadcastId: string,
  recipients: { phoneNumber: string; contactId: string | null; components: unknown[] }[],
): Promise<number> {
  if (recipients.length === 0) return 0;
  const rows = await tx.query<{ id: string }>(sql`
    INSERT INTO broadcast_recipients (broadcast_id, phone_number, contact_id, components)
    SELECT ${broadcastId}, phone_number, contact_id, components::jsonb
    FROM unnest(${recipients.map((r) => r.phoneNumber)}::text[],
                ${recipients.map((r) => r.contactId)}::uuid[],
                ${recipients.map((r) => json(r.components))}::text[])
      WITH ORDINALITY AS t(phone_number, contact_id, components, n)
    ORDER BY n
    ON CONFLICT (broadcast_id, phone_number) DO NOTHING
    RETURNING id`);
  return rows.length;
}

/**
 * Copies the next `limit` recipients of `sourceId` after send position `after` into
 * `copyId`, in send order, as new pending recipients (number, contact and parameters only);
 * a number the copy already has is skipped, so a copy run again adds nothing twice. Returns
 * the position of the last source recipient read, or undefined when none was left.
 */
export async function copyRecipients(
  tx: Queryable,
  sourceId: string | null,
  copyId: string,
  after: string,
  limit: number,
): Promise<string | undefined> {
  const [row] = await tx.query<{ last: string | null }>(sql`
    WITH chunk AS (
      SELECT position, phone_number, contact_id, components FROM broadcast_recipients
      WHERE broadcast_id = ${sourceId} AND position > ${after}::bigint
      ORDER BY position LIMIT ${limit}
    ), copied AS (
      INSERT INTO broadcast_recipients (broadcast_id, phone_number, contact_id, components)
      SELECT ${copyId}, phone_number, contact_id, components FROM chunk ORDER BY position
      ON CONFLICT (broadcast_id, phone_number) DO NOTHING
    )
    SELECT max(position)::text AS last FROM chunk`);
  return row?.last ?? undefined;
}

export async function deleteRecipients(tx: Queryable, broadcastId: string): Promise<void> {
  await tx.query(sql`DELETE FROM broadcast_recipients WHERE broadcast_id = ${broadcastId}`);
}

export async function listRecipients(
  db: Queryable,
  broadcastId: string,
  page: OffsetParams,
): Promise<{ rows: RecipientRow[]; total: number }> {
  const rows = await db.query<RecipientRow>(sql`
    SELECT * FROM broadcast_recipients WHERE broadcast_id = ${broadcastId}
    ORDER BY position ${limitOffset(page)}`);
  return { rows, total: await countRecipients(db, broadcastId) };
}
