import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { batchedLookup, groupCommit } from "../db/group-commit.ts";
import { consumeRateHit } from "../db/rate-limits.ts";
import { json, recordset } from "../db/sql.ts";
import { announceToInboxes } from "../events/publish.ts";
import { markRecipientsSent, recipientOfMessage } from "../modules/broadcasts/tracking.ts";
import { findOrCreateContactsByWaId } from "../modules/contacts/store.ts";
import { findOrOpenConversations, recordMessagesInSummaries } from "../modules/conversations/store.ts";
import { insertMessages, type MessageRow } from "../modules/messages/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { GraphApiError, type MetaError } from "../whatsapp/graph-client.ts";
import { applyPendingStatuses, messageText } from "../whatsapp/ingest.ts";
import { isMarkAsRead, validateSendBody } from "../whatsapp/message-validation.ts";
import { MetaApiError, metaError } from "../whatsapp/meta-errors.ts";
import { graphTargetFor } from "../whatsapp/targets.ts";

export interface SendMessageInput {
  projectId: string;
  phoneNumber: PhoneNumberRow;
  /** A Meta `/messages` body. */
  body: Record<string, unknown>;
  /** Same key on the same number → the first result, and nothing is sent twice. */
  idempotencyKey?: string;
  origin?: "cloud_api" | "inbox" | "broadcast";
  /**
   * The broadcast runner's sends: the runner already took the send's slot of the number's rate
   * limit, skipped contacts who stopped marketing messages, and uses a key no stored message
   * holds (an attempt key), so none of that is checked again here. A key that is held after
   * all still replays, from the store's unique-key conflict.
   */
  checkedByCaller?: boolean;
}

export interface SendMessageResult {
  /** HTTP status to answer with (200 on success). */
  status: number;
  /** Meta's success body or Meta's `{error: {...}}`. */
  body: unknown;
  headers?: Record<string, string>;
  /** Parley's stored outbound message. */
  messageId?: string;
  wamid?: string;
  /**
   * Meta did not answer (timeout, dropped connection): it may have sent the message. The stored
   * message stays `pending` until a status webhook says what happened.
   */
  outcomeUnknown?: boolean;
}

/** Meta's customer service window: free-form messages within 24 h of the contact's last message. */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

const fromError = (e: MetaApiError): SendMessageResult => ({
  status: e.status,
  body: e.body,
  headers: e.headers,
});

interface MetaSendResponse {
  messaging_product: "whatsapp";
  contacts: { input: string; wa_id: string }[];
  messages: { id: string; message_status?: string }[];
}

const successBody = (to: string, wamid: string): MetaSendResponse => ({
  messaging_product: "whatsapp",
  contacts: [{ input: to, wa_id: to }],
  messages: [{ id: wamid }],
});

/** What a stored send answered, for a retried request with the same idempotency key. */
function replay(row: MessageRow, to: string): SendMessageResult {
  if (row.wamid)
    return { status: 200, body: successBody(to, row.wamid), messageId: row.id, wamid: row.wamid };
  if (row.status === "failed" && row.error) {
    const stored = row.error as { http_status?: number; error?: MetaError };
    return { status: stored.http_status ?? 400, body: { error: stored.error }, messageId: row.id };
  }
  return {
    ...fromError(
      new MetaApiError(
        metaError(
          "invalidParameter",
          "A request with this Idempotency-Key is still being processed; retry shortly",
        ),
      ),
    ),
    messageId: row.id,
    outcomeUnknown: true,
  };
}

async function findByIdempotencyKey(ctx: AppContext, number: PhoneNumberRow, key: string) {
  const [row] = await ctx.db.query<MessageRow>(
    sql`SELECT * FROM messages WHERE phone_number_ref = ${number.id} AND idempotency_key = ${key}`,
  );
  return row;
}

interface ServiceWindowKey {
  number: PhoneNumberRow;
  waId: string;
}

/**
 * When each contact last wrote to each number (null: never), for free-form sends arriving
 * together with one statement. Read from the summaries of the contact's conversations with the
 * number (each keeps its latest inbound message's time), not from the messages themselves, of
 * which a long-standing contact has thousands.
 */
const lookUpLastInbound = batchedLookup<ServiceWindowKey, string | null>(async (db, keys) => {
  const rows = await db.query<{ ord: number; last: string | null }>(sql`
    SELECT k.ord, (
      SELECT max(cv.last_inbound_at) FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
      WHERE cv.phone_number_ref = k.phone_number_ref AND c.project_id = k.project_id AND c.wa_id = k.wa_id) AS last
    FROM ${recordset(
      keys.map((k, ord) => ({
        ord,
        phone_number_ref: k.number.id,
        project_id: k.number.project_id,
        wa_id: k.waId,
      })),
      sql`ord int, phone_number_ref uuid, project_id uuid, wa_id text`,
    )} AS k`);
  return new Map(rows.map((r) => [keys[r.ord]!, r.last]));
});

/** Free-form messages need an inbound message from the contact on this number within 24 h. */
async function checkServiceWindow(ctx: AppContext, number: PhoneNumberRow, waId: string): Promise<void> {
  const last = await lookUpLastInbound(ctx.db, { number, waId });
  if (!last || Date.now() - Date.parse(last) > SERVICE_WINDOW_MS) {
    throw new MetaApiError(
      metaError(
        "reEngagement",
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
      ),
    );
  }
}

/** Whether `template` is a marketing template and the contact stopped marketing messages on this number. */
async function marketingStopped(
  ctx: AppContext,
  number: PhoneNumberRow,
  waId: string,
  template: Record<string, unknown>,
): Promise<boolean> {
  const [stopped] = await ctx.db.query(sql`
    SELECT 1 FROM marketing_preferences mp JOIN contacts c ON c.id = mp.contact_id
    WHERE mp.phone_number_ref = ${number.id} AND c.project_id = ${number.project_id} AND c.wa_id = ${waId}
      AND mp.status = 'stopped'`);
  if (!stopped || !number.business_account_id) return false;
  const name = String(template.name);
  const language = String((template.language as { code?: string })?.code ?? "");
  const found = await ctx.graph.request<{ data?: { name: string; language: string; category: string }[] }>(
    graphTargetFor(ctx, number),
    { path: `/${number.business_account_id}/message_templates`, query: { name, limit: 100 } },
  );
  const match = (found.data ?? []).find((t) => t.name === name && (!language || t.language === language));
  return match?.category?.toUpperCase() === "MARKETING";
}

async function checkRate(ctx: AppContext, number: PhoneNumberRow): Promise<void> {
  const decision = await consumeRateHit(ctx.db, {
    key: `send:${number.id}`,
    seconds: 1,
    limit: ctx.config.sendRatePerSecond,
  });
  if (!decision.allowed) {
    throw new MetaApiError(
      metaError("rateLimited", "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
      { "Retry-After": String(Math.max(1, decision.retryAfterSeconds)) },
    );
  }
}

/** An outbound message to record before Meta is called. */
interface OutboundRecord {
  number: PhoneNumberRow;
  to: string;
  type: string;
  content: Record<string, unknown>;
  context: Record<string, unknown> | null;
  origin: string;
  idempotencyKey: string | null;
  bizOpaqueCallbackData: string | null;
}

/**
 * Records outbound messages as pending messages of their contacts' active conversations, with
 * one statement for each step (contacts, conversations, messages, summaries, inbox notices)
 * however many messages there are; answered in the order given. Each step writes its rows in
 * key order, so two batches in flight never wait on each other in a cycle (a deadlock
 * PostgreSQL would only break after a second).
 */
async function recordOutbound(tx: Queryable, records: OutboundRecord[]): Promise<MessageRow[]> {
  const contacts = await findOrCreateContactsByWaId(
    tx,
    records.map((m) => ({ projectId: m.number.project_id, waId: m.to })),
  );
  const conversations = await findOrOpenConversations(
    tx,
    records.map((m, i) => ({
      projectId: m.number.project_id,
      phoneNumberRef: m.number.id,
      contactId: contacts[i]!.id,
    })),
  );
  const sentAt = new Date().toISOString();
  const texts = records.map((m) =>
    m.type === "template"
      ? `[template ${String((m.content as { name?: string }).name)}]`
      : messageText(m.type, m.content),
  );
  const messages = (await insertMessages(
    tx,
    records.map((m, i) => ({
      projectId: m.number.project_id,
      phoneNumberRef: m.number.id,
      conversationId: conversations[i]!.conversationId,
      contactId: contacts[i]!.id,
      wamid: null,
      direction: "outbound",
      type: m.type,
      content: m.content,
      text: texts[i]!,
      context: m.context,
      status: "pending",
      sentAt,
      origin: m.origin,
      idempotencyKey: m.idempotencyKey,
      bizOpaqueCallbackData: m.bizOpaqueCallbackData,
    })),
  )) as MessageRow[];
  await recordMessagesInSummaries(
    tx,
    records.map((m, i) => ({
      conversationId: conversations[i]!.conversationId,
      message: { wamid: null, type: m.type, text: texts[i]!, sentAt, direction: "outbound" },
    })),
  );
  // Open inboxes show the messages now, not only once Meta's first status arrives.
  await announceToInboxes(
    tx,
    ...messages.map((message) => ({
      type: "inbox.message.stored",
      projectId: message.project_id,
      conversationId: message.conversation_id,
      messageId: message.id,
    })),
  );
  return messages;
}

const outboundStores = new WeakMap<AppContext, (m: OutboundRecord) => Promise<MessageRow>>();

/**
 * Records outbound messages with group commit: sends that arrive together (a busy API client,
 * a broadcast's sends in flight) share one transaction and its statements. Two transactions at
 * a time: in bench/send.ts, more sends per second and less CPU per send than four.
 */
function storeOutbound(ctx: AppContext): (m: OutboundRecord) => Promise<MessageRow> {
  let store = outboundStores.get(ctx);
  if (!store) {
    store = groupCommit<OutboundRecord, MessageRow>(ctx.db, recordOutbound, { maxBatch: 50, parallel: 2 });
    outboundStores.set(ctx, store);
  }
  return store;
}

const wamidRecorders = new WeakMap<
  AppContext,
  (sent: { message: MessageRow; wamid: string }) => Promise<boolean>
>();

/**
 * Records the wamids Meta answered for stored sends, with group commit: one statement for the
 * sends answered together (a conversation without a last wamid takes its latest send's, a
 * broadcast's recipient is marked sent), which also tells for each whether statuses for its
 * wamid arrived first (rare: Meta answered the status webhook before this), so only then is
 * more work needed.
 */
function recordWamid(ctx: AppContext): (sent: { message: MessageRow; wamid: string }) => Promise<boolean> {
  let record = wamidRecorders.get(ctx);
  if (!record) {
    record = groupCommit<{ message: MessageRow; wamid: string }, boolean>(
      ctx.db,
      async (db, sends) => {
        const rows = sends
          .map(({ message, wamid }) => ({
            id: message.id,
            conversation_id: message.conversation_id,
            phone_number_ref: message.phone_number_ref,
            wamid,
            recipient_id: recipientOfMessage(message) ?? null,
          }))
          .sort((a, b) => (a.id < b.id ? -1 : 1));
        const waiting = await db.query<{ wamid: string }>(sql`
          WITH sent AS (
            SELECT * FROM ${recordset(
              rows,
              sql`id uuid, conversation_id uuid, phone_number_ref uuid, wamid text, recipient_id uuid`,
            )} AS s),
          message AS (
            UPDATE messages m SET wamid = s.wamid, updated_at = clock_timestamp() FROM sent s WHERE m.id = s.id),
          recipient AS (${markRecipientsSent(
            sql`(SELECT recipient_id, id AS message_id, wamid FROM sent WHERE recipient_id IS NOT NULL)`,
          )}),
          conversation AS (
            UPDATE conversations c SET last_message_id = s.wamid
            FROM (SELECT DISTINCT ON (conversation_id) * FROM sent ORDER BY conversation_id, id DESC) s
            WHERE c.id = s.conversation_id AND c.last_message_id IS NULL)
          SELECT s.wamid FROM sent s WHERE EXISTS (
            SELECT 1 FROM pending_statuses p WHERE p.phone_number_ref = s.phone_number_ref AND p.wamid = s.wamid)`);
        const waitingWamids = new Set(waiting.map((w) => w.wamid));
        return sends.map(({ wamid }) => waitingWamids.has(wamid));
      },
      { maxBatch: 100, parallel: 2, transaction: false },
    );
    wamidRecorders.set(ctx, record);
  }
  return record;
}

/**
 * Sends one message from `phoneNumber`: validated like Meta, within the sending rules (24-hour
 * window, marketing opt-outs, per-number rate, idempotency), stored as an outbound message of
 * the contact's conversation before Meta (or the sandbox) is called, then updated with Meta's
 * answer. Errors come back as Meta's error body, never thrown.
 */
export async function sendMessage(ctx: AppContext, input: SendMessageInput): Promise<SendMessageResult> {
  const number = input.phoneNumber;
  const target = graphTargetFor(ctx, number);
  try {
    const { type, to } = validateSendBody(input.body);
    if (isMarkAsRead(input.body)) {
      const body = await ctx.graph.request(target, {
        method: "POST",
        path: `/${number.phone_number_id}/messages`,
        json: input.body,
      });
      return { status: 200, body };
    }
    if (input.idempotencyKey && !input.checkedByCaller) {
      const previous = await findByIdempotencyKey(ctx, number, input.idempotencyKey);
      if (previous) return replay(previous, to);
    }
    if (type === "template") {
      if (
        !input.checkedByCaller &&
        (await marketingStopped(ctx, number, to, input.body.template as Record<string, unknown>))
      ) {
        return {
          status: 422,
          body: {
            error: {
              message: "The contact has stopped marketing messages from this number",
              type: "OAuthException",
              code: "marketing_preference_stopped",
            },
          },
        };
      }
    } else {
      await checkServiceWindow(ctx, number, to);
    }
    if (!input.checkedByCaller) await checkRate(ctx, number);

    const content = (type === "contacts" ? { contacts: input.body.contacts } : input.body[type]) as Record<
      string,
      unknown
    >;
    const stored = await storeOutbound(ctx)({
      number,
      to,
      type,
      content,
      context: (input.body.context as Record<string, unknown>) ?? null,
      origin: input.origin ?? "cloud_api",
      idempotencyKey: input.idempotencyKey ?? null,
      bizOpaqueCallbackData:
        typeof input.body.biz_opaque_callback_data === "string" ? input.body.biz_opaque_callback_data : null,
    }).catch(async (err: { code?: string }) => {
      // Two requests with one key raced: the other stored first, so answer as it will.
      if (err.code === "23505" && input.idempotencyKey) {
        return { raced: await findByIdempotencyKey(ctx, number, input.idempotencyKey) };
      }
      throw err;
    });
    if ("raced" in stored) return replay(stored.raced!, to);

    try {
      const response = await ctx.graph.request<MetaSendResponse>(target, {
        method: "POST",
        path: `/${number.phone_number_id}/messages`,
        json: input.body,
      });
      const wamid = response.messages?.[0]?.id;
      if (wamid && (await recordWamid(ctx)({ message: stored, wamid }))) {
        await ctx.db.transaction((tx) => applyPendingStatuses(ctx, tx, number, wamid));
      }
      return { status: 200, body: response, messageId: stored.id, wamid };
    } catch (err) {
      if (!(err instanceof GraphApiError)) throw err;
      const status = err.status || 502;
      if (err.unanswered) {
        return { status: 504, body: { error: err.error }, messageId: stored.id, outcomeUnknown: true };
      }
      await ctx.db.transaction(async (tx) => {
        await tx.query(sql`
          UPDATE messages SET status = 'failed', error = ${json({ http_status: status, error: err.error })},
            updated_at = clock_timestamp()
          WHERE id = ${stored.id}`);
        await announceToInboxes(tx, {
          type: "inbox.message.failed",
          projectId: number.project_id,
          conversationId: stored.conversation_id,
          messageId: stored.id,
        });
      });
      return { status, body: { error: err.error }, messageId: stored.id };
    }
  } catch (err) {
    if (err instanceof MetaApiError) return fromError(err);
    if (err instanceof GraphApiError) return { status: err.status || 502, body: { error: err.error } };
    throw err;
  }
}
