import sql, { type Sql } from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { type CursorParams, cursorPage, cursorQuery, whereAll } from "../http/pagination.ts";
import { isUuid } from "../lib/ids.ts";
import { messageMediaUrl } from "../modules/media/urls.ts";
import { presentMessage } from "../modules/messages/presenter.ts";
import type { MessageRow } from "../modules/messages/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { MetaApiError, metaError, unknownObjectError } from "../whatsapp/meta-errors.ts";

// Kapso's message history on the proxy: Meta-shaped messages with the `kapso` extension,
// whose members a caller picks with `fields=kapso(a,b,…)`.

type HistoryRow = MessageRow & { wa_id: string | null; contact_name: string | null };

/** Every `kapso` member a history message can carry. */
const KAPSO_MEMBERS = [
  "direction",
  "status",
  "processing_status",
  "origin",
  "phone_number",
  "has_media",
  "media_data",
  "media_url",
  "whatsapp_conversation_id",
  "contact_name",
  "message_type_data",
  "content",
  "flow_response",
  "flow_token",
  "flow_name",
  "order_text",
  "statuses",
  "error",
] as const;

/** `message_type_data` repeats the message's own type object, so it is only sent when asked for. */
const DEFAULT_MEMBERS = KAPSO_MEMBERS.filter((m) => m !== "message_type_data");

const invalidFields = (details: string) =>
  new MetaApiError(metaError("invalidParameter", `(#100) Param fields is not valid: ${details}`));

/**
 * The `kapso` members `fields` asks for: `kapso(a,b)` those, `kapso(default)` or no `fields`
 * the default set, `kapso()` none (the object is left out).
 */
export function parseKapsoFields(fields: string | undefined): readonly string[] {
  if (fields === undefined) return DEFAULT_MEMBERS;
  const match = /^\s*kapso\s*\(([^()]*)\)\s*$/.exec(fields);
  if (!match) throw invalidFields("use kapso(member,…) to choose the kapso members returned");
  const names = match[1]!
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 1 && names[0] === "default") return DEFAULT_MEMBERS;
  for (const name of names) {
    if (!(KAPSO_MEMBERS as readonly string[]).includes(name)) {
      throw invalidFields(`Tried accessing nonexisting field (${name}) of kapso`);
    }
  }
  return names;
}

/** A completed WhatsApp Flow (`interactive.nfm_reply`): its response JSON, token and name. */
function flowReply(row: MessageRow) {
  const reply = row.type === "interactive" ? (row.content.nfm_reply as Record<string, unknown>) : undefined;
  if (!reply || typeof reply !== "object") return {};
  let response: Record<string, unknown> | undefined;
  if (typeof reply.response_json === "string") {
    try {
      const parsed = JSON.parse(reply.response_json);
      if (parsed && typeof parsed === "object") response = parsed;
    } catch {
      // Meta's field is not JSON: the flow members are left out rather than guessed.
    }
  }
  return {
    ...(response ? { flow_response: response } : {}),
    ...(typeof response?.flow_token === "string" ? { flow_token: response.flow_token } : {}),
    ...(typeof reply.name === "string" ? { flow_name: reply.name } : {}),
  };
}

function presentHistoryMessage(
  row: HistoryRow,
  members: readonly string[],
  mediaUrl: (row: MessageRow) => string | null,
) {
  const { kapso, ...message } = presentMessage(row, mediaUrl);
  const peer = row.direction === "inbound" ? { from: row.wa_id } : { to: row.wa_id };
  if (members.length === 0) return { ...message, ...peer };
  const all: Record<string, unknown> = {
    ...kapso,
    phone_number: row.wa_id,
    whatsapp_conversation_id: row.conversation_id,
    contact_name: row.contact_name,
    message_type_data: row.content,
    ...flowReply(row),
    ...(row.type === "order" && typeof row.content.text === "string" ? { order_text: row.content.text } : {}),
  };
  const selected: Record<string, unknown> = {};
  for (const member of members) if (member in all) selected[member] = all[member];
  return { ...message, ...peer, kapso: selected };
}

const HISTORY_SELECT = sql`
  SELECT m.*, c.wa_id, COALESCE(c.display_name, c.profile_name) AS contact_name
  FROM messages m JOIN contacts c ON c.id = m.contact_id`;

const DIRECTIONS = ["inbound", "outbound"];
const STATUSES = ["received", "pending", "sent", "delivered", "read", "failed"];

function invalidParam(message: string): MetaApiError {
  return new MetaApiError(metaError("invalidParameter", `(#100) ${message}`));
}

export interface HistoryQuery extends CursorParams {
  conversation_id?: string;
  direction?: string;
  status?: string;
  since?: string;
  until?: string;
  fields?: string;
}

/** `GET /{phone_number_id}/messages`: the number's messages, newest first, cursor paged. */
export async function listHistory(ctx: AppContext, number: PhoneNumberRow, q: HistoryQuery) {
  const members = parseKapsoFields(q.fields);
  const cursor = cursorQuery(q, { sql: sql`m.sent_at`, name: "sent_at", idSql: sql`m.id` });
  const conditions: Sql[] = [sql`m.phone_number_ref = ${number.id}`, cursor.where];
  if (q.conversation_id) {
    if (!isUuid(q.conversation_id)) throw new MetaApiError(unknownObjectError(q.conversation_id));
    conditions.push(sql`m.conversation_id = ${q.conversation_id}`);
  }
  if (q.direction) {
    if (!DIRECTIONS.includes(q.direction)) throw invalidParam("Param direction must be inbound or outbound");
    conditions.push(sql`m.direction = ${q.direction}`);
  }
  if (q.status) {
    if (!STATUSES.includes(q.status))
      throw invalidParam(`Param status must be one of ${STATUSES.join(", ")}`);
    conditions.push(sql`m.status = ${q.status}`);
  }
  for (const field of ["since", "until"] as const) {
    const value = q[field];
    if (value === undefined) continue;
    const at = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
    if (Number.isNaN(at.getTime())) throw invalidParam(`Param ${field} must be a time`);
    conditions.push(
      field === "since" ? sql`m.sent_at >= ${at.toISOString()}` : sql`m.sent_at <= ${at.toISOString()}`,
    );
  }
  const rows = await ctx.db.query<HistoryRow>(
    sql`${HISTORY_SELECT} WHERE ${whereAll(conditions)} ${cursor.orderBy} ${cursor.limit}`,
  );
  const page = cursorPage(rows, q, cursor.direction, (r) => ({
    column: "sent_at",
    value: r.sent_at,
    id: r.id,
  }));
  const mediaUrl = messageMediaUrl(ctx);
  return { data: page.data.map((row) => presentHistoryMessage(row, members, mediaUrl)), paging: page.paging };
}

/**
 * `GET /{phone_number_id}/messages/{message_id}`: one message of the number, by Meta's wamid
 * (or, for a send Meta never accepted, the id history gave it); any other id is unknown to Meta.
 */
export async function getHistoryMessage(
  ctx: AppContext,
  number: PhoneNumberRow,
  messageId: string,
  fields: string | undefined,
) {
  const members = parseKapsoFields(fields);
  const match = isUuid(messageId)
    ? sql`(m.wamid = ${messageId} OR m.id = ${messageId})`
    : sql`m.wamid = ${messageId}`;
  const [row] = await ctx.db.query<HistoryRow>(
    sql`${HISTORY_SELECT} WHERE m.phone_number_ref = ${number.id} AND ${match} LIMIT 1`,
  );
  if (!row) throw new MetaApiError(unknownObjectError(messageId));
  return { data: presentHistoryMessage(row, members, messageMediaUrl(ctx)) };
}
