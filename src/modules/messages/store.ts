import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { json, recordset } from "../../db/sql.ts";
import { isMediaId } from "../media/urls.ts";

export type MessageStatus = "received" | "pending" | "sent" | "delivered" | "read" | "failed";

export interface MessageRow {
  id: string;
  project_id: string;
  phone_number_ref: string;
  conversation_id: string;
  contact_id: string;
  wamid: string | null;
  direction: "inbound" | "outbound";
  type: string;
  content: Record<string, unknown>;
  text: string | null;
  context: Record<string, unknown> | null;
  status: MessageStatus;
  processing_status: string;
  origin: string;
  sent_at: string;
  statuses: Record<string, unknown>[];
  error: Record<string, unknown> | null;
  media: Record<string, unknown> | null;
  biz_opaque_callback_data: string | null;
  idempotency_key: string | null;
  created_at: string;
  updated_at: string;
}

export interface NewMessage {
  projectId: string;
  phoneNumberRef: string;
  conversationId: string;
  contactId: string;
  wamid: string | null;
  direction: "inbound" | "outbound";
  type: string;
  content: Record<string, unknown>;
  text: string | null;
  context: Record<string, unknown> | null;
  status: MessageStatus;
  sentAt: string;
  processingStatus?: string;
  origin?: string;
  idempotencyKey?: string | null;
  bizOpaqueCallbackData?: string | null;
}

/**
 * Inserts a message; a replayed wamid on the same number inserts nothing (undefined). A message
 * carrying the id of a file Parley uploaded gets that file's name, type and size in `media`.
 */
export async function insertMessage(tx: Queryable, m: NewMessage): Promise<MessageRow | undefined> {
  const [row] = await insertMessages(tx, [m]);
  return row;
}

/** `insertMessage` for several messages with one statement, answered in the order given. */
export async function insertMessages(
  tx: Queryable,
  messages: NewMessage[],
): Promise<(MessageRow | undefined)[]> {
  const input = messages.map((m, ord) => ({
    ord,
    project_id: m.projectId,
    phone_number_ref: m.phoneNumberRef,
    conversation_id: m.conversationId,
    contact_id: m.contactId,
    wamid: m.wamid,
    direction: m.direction,
    type: m.type,
    content: m.content,
    text: m.text,
    context: m.context,
    status: m.status,
    processing_status: m.processingStatus ?? "completed",
    origin: m.origin ?? "cloud_api",
    sent_at: m.sentAt,
    idempotency_key: m.idempotencyKey ?? null,
    biz_opaque_callback_data: m.bizOpaqueCallbackData ?? null,
    media_id: isMediaId(m.content.id) ? m.content.id : null,
  }));
  // Ids are made before the insert, so each inserted row can be matched to its input, and in
  // the input's order, so messages stored together list in the order given.
  const rows = await tx.query<MessageRow & { ord: number }>(sql`
    WITH input AS MATERIALIZED (
      SELECT parley_uuid_v7(i.ord) AS id, i.* FROM ${recordset(
        input,
        sql`ord int, project_id uuid, phone_number_ref uuid, conversation_id uuid, contact_id uuid, wamid text,
          direction text, type text, content jsonb, text text, context jsonb, status text,
          processing_status text, origin text, sent_at timestamptz, idempotency_key text,
          biz_opaque_callback_data text, media_id text`,
      )} AS i),
    inserted AS (
      INSERT INTO messages (id, project_id, phone_number_ref, conversation_id, contact_id, wamid, direction, type,
                            content, text, context, status, processing_status, origin, sent_at, idempotency_key,
                            biz_opaque_callback_data, media)
      SELECT i.id, i.project_id, i.phone_number_ref, i.conversation_id, i.contact_id, i.wamid, i.direction, i.type,
             i.content, i.text, i.context, i.status, i.processing_status, i.origin, i.sent_at, i.idempotency_key,
             i.biz_opaque_callback_data,
             (SELECT jsonb_build_object('filename', u.filename, 'mime_type', u.mime_type, 'byte_size', u.byte_size)
              FROM media_uploads u WHERE u.phone_number_ref = i.phone_number_ref AND u.media_id = i.media_id)
      FROM input i ORDER BY i.ord
      ON CONFLICT (phone_number_ref, wamid) WHERE wamid IS NOT NULL DO NOTHING
      RETURNING *)
    SELECT inserted.*, input.ord FROM inserted JOIN input USING (id)`);
  const byOrd = new Map(rows.map(({ ord, ...row }) => [ord, row as MessageRow]));
  return messages.map((_, ord) => byOrd.get(ord));
}

// A status never moves a message backwards; `failed` ends a message not yet delivered.
const RANK: Record<string, number> = { pending: 0, sent: 1, delivered: 2, read: 3 };

/** One of Meta's `statuses[]` objects, as far as Parley reads it. */
export type StatusObject = Record<string, unknown> & { id: string; status: string };

/** `message` after Meta's `status`: the raw object kept, `status` moved only forwards. */
function advance(message: MessageRow, status: StatusObject): { message: MessageRow; changed: boolean } {
  const next = status.status;
  const changed =
    next === "failed"
      ? message.status === "pending" || message.status === "sent"
      : next in RANK && message.status !== "failed" && RANK[next]! > (RANK[message.status] ?? 99);
  const errors = Array.isArray(status.errors) ? status.errors : null;
  return {
    changed,
    message: {
      ...message,
      statuses: [...message.statuses, status],
      status: changed ? (next as MessageRow["status"]) : message.status,
      error: changed && errors ? (errors[0] as MessageRow["error"]) : message.error,
    },
  };
}

/**
 * Applies Meta's status objects, in their order, to the outbound messages they name (`id` is
 * the wamid): each raw object is kept in `statuses`, and `status` advances only forwards. The
 * messages are locked and written with one statement each, however many statuses there are.
 * Returns, per status, the message as that status left it and whether its status changed, or
 * undefined when no such message exists (yet).
 */
export async function applyStatuses(
  tx: Queryable,
  phoneNumberRef: string,
  statuses: StatusObject[],
): Promise<({ message: MessageRow; changed: boolean } | undefined)[]> {
  if (statuses.length === 0) return [];
  const wamids = [...new Set(statuses.map((s) => s.id))];
  const locked = await tx.query<MessageRow>(sql`
    SELECT * FROM messages WHERE phone_number_ref = ${phoneNumberRef} AND wamid = ANY(${wamids}::text[])
    ORDER BY id FOR UPDATE`);
  const latest = new Map(locked.map((m) => [m.wamid!, m]));
  const results = statuses.map((status) => {
    const current = latest.get(status.id);
    if (!current) return undefined;
    const result = advance(current, status);
    latest.set(status.id, result.message);
    return result;
  });
  const written = [...latest.values()].filter((m) => !locked.includes(m));
  if (written.length === 0) return results;
  const updated = await tx.query<{ id: string; updated_at: string }>(sql`
    UPDATE messages m SET statuses = u.statuses, status = u.status, error = u.error, updated_at = clock_timestamp()
    FROM ${recordset(
      written.map(({ id, statuses, status, error }) => ({ id, statuses, status, error })),
      sql`id uuid, statuses jsonb, status text, error jsonb`,
    )} AS u
    WHERE m.id = u.id
    RETURNING m.id, m.updated_at`);
  const updatedAt = new Map(updated.map((u) => [u.id, u.updated_at]));
  for (const result of results) {
    if (result) result.message.updated_at = updatedAt.get(result.message.id) ?? result.message.updated_at;
  }
  return results;
}

export async function keepPendingStatus(
  tx: Queryable,
  phoneNumberRef: string,
  wamid: string,
  status: Record<string, unknown>,
): Promise<void> {
  await tx.query(sql`
    INSERT INTO pending_statuses (phone_number_ref, wamid, status) VALUES (${phoneNumberRef}, ${wamid}, ${json(status)})`);
}

/** Takes (and removes) the statuses kept for `wamid`, oldest first. */
export async function takePendingStatuses(
  tx: Queryable,
  phoneNumberRef: string,
  wamid: string,
): Promise<(Record<string, unknown> & { status: string })[]> {
  const rows = await tx.query<{
    status: Record<string, unknown> & { status: string };
    created_at: string;
  }>(sql`
    DELETE FROM pending_statuses WHERE phone_number_ref = ${phoneNumberRef} AND wamid = ${wamid}
    RETURNING status, created_at`);
  return rows.sort((a, b) => a.created_at.localeCompare(b.created_at)).map((r) => r.status);
}
