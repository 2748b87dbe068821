import sql, { empty, type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { recordset } from "../../db/sql.ts";
import { type CursorParams, cursorQuery, whereAll } from "../../http/pagination.ts";

/** A conversation with what its presentation needs from the contact and the number. */
export interface ConversationRow {
  id: string;
  project_id: string;
  phone_number_ref: string;
  contact_id: string;
  status: "active" | "ended";
  metadata: Record<string, unknown>;
  last_active_at: string;
  ended_at: string | null;
  messages_count: number;
  unread_count: number;
  last_message_id: string | null;
  last_message_type: string | null;
  last_message_timestamp: string | null;
  last_message_text: string | null;
  last_inbound_at: string | null;
  last_outbound_at: string | null;
  /** The contact wrote last (set in recording order). */
  awaiting_reply: boolean;
  created_at: string;
  updated_at: string;
  // joined
  phone_number_id: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  contact_name: string | null;
  contact_display_name: string | null;
  contact_profile_name: string | null;
  number_display_phone_number: string | null;
  number_name: string | null;
}

/** A `ConversationRow` of the conversations in `v` (the table, or rows an UPDATE returned). */
const selectFrom = (v: Sql) => sql`
  SELECT v.*, pn.phone_number_id, c.wa_id, c.business_scoped_user_id,
         c.parent_business_scoped_user_id, c.username,
         COALESCE(c.display_name, c.profile_name) AS contact_name,
         c.display_name AS contact_display_name, c.profile_name AS contact_profile_name,
         pn.display_phone_number AS number_display_phone_number,
         COALESCE(pn.name, pn.verified_name) AS number_name
  FROM ${v} v
  JOIN phone_numbers pn ON pn.id = v.phone_number_ref
  JOIN contacts c ON c.id = v.contact_id`;

const SELECT = selectFrom(sql`conversations`);

export async function findConversation(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<ConversationRow | undefined> {
  const [row] = await db.query<ConversationRow>(
    sql`${SELECT} WHERE v.project_id = ${projectId} AND v.id = ${id}`,
  );
  return row;
}

/** Several conversations of a project by id, in no particular order (unknown ids are left out). */
export async function findConversations(
  db: Queryable,
  projectId: string,
  ids: string[],
): Promise<ConversationRow[]> {
  if (ids.length === 0) return [];
  return db.query<ConversationRow>(
    sql`${SELECT} WHERE v.project_id = ${projectId} AND v.id = ANY(${ids}::uuid[])`,
  );
}

/** The ids of a contact's conversations (on every number). */
export async function conversationIdsOfContact(
  db: Queryable,
  projectId: string,
  contactId: string,
): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    sql`SELECT id FROM conversations WHERE project_id = ${projectId} AND contact_id = ${contactId}`,
  );
  return rows.map((r) => r.id);
}

/**
 * The id of the active conversation of a contact on a number, opened when there is none. The
 * partial unique index on active conversations makes concurrent openers agree on one row. The
 * upsert finds an existing one through that index itself (no plan to choose, and the row is
 * locked for the summary update that follows); `xmax = 0` tells a fresh insert. Callers read
 * the conversation once they have recorded their message in it.
 */
export async function findOrOpenConversation(
  tx: Queryable,
  input: OpenConversation,
): Promise<{ conversationId: string; created: boolean }> {
  const [opened] = await findOrOpenConversations(tx, [input]);
  return opened!;
}

interface OpenConversation {
  projectId: string;
  phoneNumberRef: string;
  contactId: string;
}

/**
 * `findOrOpenConversation` for several contacts with one statement, answered in the order
 * asked; rows are written in (number, contact) order, so two batches never wait on each other
 * in a cycle.
 */
export async function findOrOpenConversations(
  tx: Queryable,
  wanted: OpenConversation[],
): Promise<{ conversationId: string; created: boolean }[]> {
  const key = (phoneNumberRef: string, contactId: string) => `${phoneNumberRef}:${contactId}`;
  const distinct = new Map(
    wanted.map((w) => [
      key(w.phoneNumberRef, w.contactId),
      { project_id: w.projectId, phone_number_ref: w.phoneNumberRef, contact_id: w.contactId },
    ]),
  );
  const rows = await tx.query<{
    id: string;
    phone_number_ref: string;
    contact_id: string;
    created: boolean;
  }>(sql`
    INSERT INTO conversations (project_id, phone_number_ref, contact_id)
    SELECT project_id, phone_number_ref, contact_id
    FROM ${recordset([...distinct.values()], sql`project_id uuid, phone_number_ref uuid, contact_id uuid`)} AS w
    ORDER BY phone_number_ref, contact_id
    ON CONFLICT (phone_number_ref, contact_id) WHERE status = 'active'
      DO UPDATE SET status = conversations.status
    RETURNING id, phone_number_ref, contact_id, (xmax = 0) AS created`);
  const opened = new Map(rows.map((r) => [key(r.phone_number_ref, r.contact_id), r]));
  return wanted.map((w) => {
    const row = opened.get(key(w.phoneNumberRef, w.contactId))!;
    return { conversationId: row.id, created: row.created };
  });
}

/** A message as the conversation summary records it. */
export interface SummaryMessage {
  wamid: string | null;
  type: string;
  text: string | null;
  sentAt: string;
  direction: "inbound" | "outbound";
}

/**
 * Records a message in the conversation's summary (the API's `kapso` block) and answers the
 * conversation as it now is (the same statement reads it back).
 */
export async function recordMessageInSummary(
  tx: Queryable,
  conversationId: string,
  m: SummaryMessage,
): Promise<ConversationRow> {
  const [row] = await recordMessagesInSummaries(tx, [{ conversationId, message: m }]);
  return row!;
}

/**
 * Records messages in their conversations' summaries, in the order given, with one statement
 * (the same as recording them one by one: counts add up, the last message of each conversation
 * is its latest), and answers the conversations as they now are, in id order. `alongside`, a
 * data-modifying statement about the same messages, runs as a step of that statement (one
 * round trip instead of two).
 */
export async function recordMessagesInSummaries(
  tx: Queryable,
  recorded: { conversationId: string; message: SummaryMessage }[],
  alongside?: Sql,
): Promise<ConversationRow[]> {
  const changes = new Map<
    string,
    {
      id: string;
      messages: number;
      inbound: number;
      last: SummaryMessage;
      last_inbound_at: string | null;
      last_outbound_at: string | null;
    }
  >();
  const later = (a: string | null, b: string) => (a === null || Date.parse(b) > Date.parse(a) ? b : a);
  for (const { conversationId, message: m } of recorded) {
    const c = changes.get(conversationId) ?? {
      id: conversationId,
      messages: 0,
      inbound: 0,
      last: m,
      last_inbound_at: null,
      last_outbound_at: null,
    };
    c.messages++;
    c.last = m;
    if (m.direction === "inbound") {
      c.inbound++;
      c.last_inbound_at = later(c.last_inbound_at, m.sentAt);
    } else {
      c.last_outbound_at = later(c.last_outbound_at, m.sentAt);
    }
    changes.set(conversationId, c);
  }
  const rows = [...changes.values()]
    .map((c) => ({
      id: c.id,
      messages: c.messages,
      inbound: c.inbound,
      awaiting_reply: c.last.direction === "inbound",
      wamid: c.last.wamid,
      type: c.last.type,
      text: c.last.text,
      sent_at: c.last.sentAt,
      last_inbound_at: c.last_inbound_at,
      last_outbound_at: c.last_outbound_at,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  return tx.query<ConversationRow>(sql`
    WITH ${alongside ? sql`alongside AS (${alongside}),` : empty} updated AS (
      UPDATE conversations c SET
        messages_count = c.messages_count + u.messages,
        unread_count = c.unread_count + u.inbound,
        awaiting_reply = u.awaiting_reply,
        last_message_id = u.wamid,
        last_message_type = u.type,
        last_message_text = u.text,
        last_message_timestamp = u.sent_at,
        last_inbound_at = CASE WHEN u.last_inbound_at IS NULL THEN c.last_inbound_at
                          ELSE GREATEST(c.last_inbound_at, u.last_inbound_at) END,
        last_outbound_at = CASE WHEN u.last_outbound_at IS NULL THEN c.last_outbound_at
                           ELSE GREATEST(c.last_outbound_at, u.last_outbound_at) END,
        last_active_at = GREATEST(c.last_active_at, clock_timestamp()),
        updated_at = clock_timestamp()
      FROM ${recordset(
        rows,
        sql`id uuid, messages int, inbound int, awaiting_reply boolean, wamid text, type text, text text,
          sent_at timestamptz, last_inbound_at timestamptz, last_outbound_at timestamptz`,
      )} AS u
      WHERE c.id = u.id
      RETURNING c.*)
    ${selectFrom(sql`updated`)} ORDER BY v.id`);
}

export interface ConversationFilters {
  phoneNumberId?: string;
  /** Conversations on numbers of this customer (the inbox embed's customer scope). */
  customerId?: string;
  search?: string;
  phoneNumber?: string;
  status?: string;
  assignedUserId?: string;
  unassigned?: boolean;
  createdAfter?: string;
  createdBefore?: string;
  lastActiveAfter?: string;
  lastActiveBefore?: string;
  /** With inbound messages the inbox has not opened yet (`unread_count > 0`). */
  unread?: boolean;
  /** Active, and the contact wrote last (waiting for a human reply). */
  awaitingReply?: boolean;
  /** Changed since (the embedded inbox catching up after a lost connection). */
  updatedAfter?: string;
}

function conditions(projectId: string, f: ConversationFilters): Sql[] {
  const c = [sql`v.project_id = ${projectId}`, sql`pn.deleted_at IS NULL`, sql`c.erased_at IS NULL`];
  if (f.phoneNumberId) c.push(sql`pn.phone_number_id = ${f.phoneNumberId}`);
  if (f.customerId) c.push(sql`pn.customer_id = ${f.customerId}`);
  if (f.search) {
    const like = `%${f.search.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    c.push(sql`(c.wa_id LIKE ${like} OR c.profile_name ILIKE ${like} OR c.display_name ILIKE ${like})`);
  }
  if (f.phoneNumber) {
    c.push(sql`c.wa_id LIKE ${`%${f.phoneNumber.replace(/\D/g, "")}%`}`);
  }
  if (f.status) c.push(sql`v.status = ${f.status}`);
  if (f.assignedUserId) {
    c.push(
      sql`EXISTS (SELECT 1 FROM conversation_assignments a WHERE a.conversation_id = v.id AND a.active AND a.user_id = ${f.assignedUserId})`,
    );
  }
  if (f.unassigned)
    c.push(
      sql`NOT EXISTS (SELECT 1 FROM conversation_assignments a WHERE a.conversation_id = v.id AND a.active)`,
    );
  if (f.createdAfter) c.push(sql`v.created_at > ${f.createdAfter}`);
  if (f.createdBefore) c.push(sql`v.created_at < ${f.createdBefore}`);
  if (f.lastActiveAfter) c.push(sql`v.last_active_at > ${f.lastActiveAfter}`);
  if (f.lastActiveBefore) c.push(sql`v.last_active_at < ${f.lastActiveBefore}`);
  if (f.unread) c.push(sql`v.unread_count > 0`);
  if (f.awaitingReply) {
    c.push(sql`v.status = 'active' AND v.awaiting_reply`);
  }
  if (f.updatedAfter) c.push(sql`v.updated_at > ${f.updatedAfter}`);
  return c;
}

export async function listConversations(
  db: Queryable,
  projectId: string,
  f: ConversationFilters,
  params: CursorParams,
) {
  const q = cursorQuery(params, { sql: sql`v.last_active_at`, name: "last_active_at", idSql: sql`v.id` });
  const rows = await db.query<ConversationRow>(
    sql`${SELECT} WHERE ${whereAll([...conditions(projectId, f), q.where])} ${q.orderBy} ${q.limit}`,
  );
  return { rows, direction: q.direction };
}

export async function setConversationStatus(
  tx: Queryable,
  projectId: string,
  id: string,
  status: "active" | "ended",
): Promise<{ changed: boolean } | undefined> {
  const [row] = await tx.query<{ status: string }>(
    sql`SELECT status FROM conversations WHERE project_id = ${projectId} AND id = ${id} FOR UPDATE`,
  );
  if (!row) return undefined;
  if (row.status === status) return { changed: false };
  await tx.query(sql`
    UPDATE conversations SET status = ${status},
      ended_at = ${status === "ended" ? sql`clock_timestamp()` : sql`NULL`},
      updated_at = clock_timestamp()
    WHERE id = ${id}`);
  return { changed: true };
}
