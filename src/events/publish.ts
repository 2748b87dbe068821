import { createHash } from "node:crypto";
import sql from "sql-template-tag";
import type { Queryable } from "../db/database.ts";
import { recordset } from "../db/sql.ts";
import { legacyEventNameSql } from "../webhooks/payload.ts";

/** The NOTIFY channel on which every committed event is announced (the live inbox listens). */
export const EVENTS_CHANNEL = "parley_events";

/**
 * The NOTIFY channel for changes only open inboxes care about (no webhook event exists for
 * them: a reopened conversation, a new assignment, a renamed contact, a message stored before
 * Meta answered). Kept apart from `parley_events` so they do not wake the webhook dispatcher.
 */
export const INBOX_CHANNEL = "parley_inbox";

/**
 * Something others must hear about, e.g. `whatsapp.message.received` with its v2 webhook
 * payload. Phone-number-scoped events carry the number; conversation events the conversation.
 */
export interface ParleyEvent {
  type: string;
  projectId: string;
  phoneNumberRef?: string | null;
  conversationId?: string | null;
  /** Set for an event meant for one webhook only (`whatsapp.conversation.inactive`). */
  webhookId?: string | null;
  /** Parley's id of the stored message a message event is about (open inboxes show it). */
  messageId?: string;
  payload: unknown;
}

/** The small announcement sent with NOTIFY (its payload is limited to 8 kB). */
export interface EventNotice {
  id: string;
  project_id: string;
  type: string;
  phone_number_ref: string | null;
  conversation_id: string | null;
  /** The stored message of a message event (null otherwise). */
  message_id: string | null;
  /**
   * False when the event made no webhook delivery or buffered item, so the dispatcher need not
   * wake for it (absent means it should).
   */
  dispatch?: boolean;
  /**
   * False when it put nothing in a webhook's buffer, so the dispatcher need not look for
   * buffers to flush (absent means it should).
   */
  buffered?: boolean;
}

/** Sends each notice as JSON on `channel` with one statement (delivered when `tx` commits). */
async function notify(tx: Queryable, channel: string, notices: object[]): Promise<void> {
  await tx.query(sql`
    SELECT pg_notify(${channel}, notice) FROM unnest(${notices.map((n) => JSON.stringify(n))}::text[]) AS notice`);
}

/**
 * Fans events out inside the caller's transaction — one delivery row (the outbox) or buffered
 * item per webhook that wants each —, queues Meta's webhook bodies for `meta` webhooks
 * (`metaPayloads`), and announces it all with NOTIFY, which PostgreSQL delivers only if that
 * transaction commits: nothing is announced for a change that rolls back, and nothing committed
 * goes undelivered. An event no webhook wants is only announced (open inboxes read what changed
 * from the tables themselves), not kept. One statement for all of it, because a round trip
 * inside the transaction is what costs (the ingest transaction holds every webhook of a burst
 * until it commits).
 */
export async function publishEvents(
  tx: Queryable,
  events: ParleyEvent[],
  metaPayloads: MetaPayload[] = [],
): Promise<EventNotice[]> {
  if (events.length === 0 && metaPayloads.length === 0) return [];
  const eventRows = events.map((e, ord) => ({
    ord,
    project_id: e.projectId,
    type: e.type,
    phone_number_ref: e.phoneNumberRef ?? null,
    conversation_id: e.conversationId ?? null,
    webhook_id: e.webhookId ?? null,
    message_id: e.messageId ?? null,
    payload: e.payload,
  }));
  // `X-Idempotency-Key` of a `meta` delivery is the SHA-256 of the body, so a receiver
  // recognises Meta's own retries of the same payload.
  const metaRows = metaPayloads.map((p, ord) => ({
    ord,
    project_id: p.projectId,
    phone_number_ref: p.phoneNumberRef,
    event: `meta.${p.field}`,
    body: p.body,
    idempotency_key: createHash("sha256").update(p.body).digest("hex"),
  }));
  // One delivery per matching webhook. Message and conversation events go to the number's
  // webhooks; project events (number lifecycle) to project-scoped ones. A webhook Parley paused
  // keeps collecting (its deliveries wait until it is resumed); one paused through the API does
  // not. Buffered events wait in the webhook's buffer instead. A webhook may name a number
  // lifecycle event by its legacy (v1) name.
  const matches = sql`
    FROM new_events e JOIN webhooks w ON w.project_id = e.project_id AND w.kind = 'kapso'
      AND (w.active OR w.paused_reason IS NOT NULL)
      AND (e.type = ANY(w.events) OR ${legacyEventNameSql(sql`e.type`)} = ANY(w.events))
      AND (e.webhook_id IS NULL OR e.webhook_id = w.id)
      AND (CASE WHEN e.type LIKE 'whatsapp.phone_number.%' THEN w.phone_number_ref IS NULL
                ELSE w.phone_number_ref = e.phone_number_ref END)`;
  const buffered = sql`(w.buffer_enabled AND e.type = ANY(w.buffer_events) AND e.conversation_id IS NOT NULL)`;
  // `dispatch` and `buffered` tell the dispatcher whether to wake and whether to look at buffers.
  return tx.query<EventNotice>(sql`
    WITH new_events AS MATERIALIZED (
      SELECT gen_random_uuid() AS id, i.*
      FROM ${recordset(eventRows, sql`ord int, project_id uuid, type text, phone_number_ref uuid, conversation_id uuid, webhook_id uuid, message_id uuid, payload jsonb`)} AS i),
    deliveries AS (
      INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, phone_number_ref, conversation_id)
      SELECT e.project_id, w.id, e.type, e.payload, e.phone_number_ref, e.conversation_id
      ${matches} WHERE NOT ${buffered}
      ORDER BY e.ord, w.id
      RETURNING 1),
    buffer_items AS (
      INSERT INTO webhook_buffer_items (project_id, webhook_id, event, payload, phone_number_ref, conversation_id)
      SELECT e.project_id, w.id, e.type, e.payload, e.phone_number_ref, e.conversation_id
      ${matches} WHERE ${buffered}
      ORDER BY e.ord, w.id
      RETURNING 1),
    meta_deliveries AS (
      INSERT INTO webhook_deliveries (project_id, webhook_id, event, body, idempotency_key, phone_number_ref)
      SELECT w.project_id, w.id, p.event, p.body, p.idempotency_key, w.phone_number_ref
      FROM ${recordset(metaRows, sql`ord int, project_id uuid, phone_number_ref uuid, event text, body text, idempotency_key text`)} AS p
      JOIN webhooks w ON w.project_id = p.project_id AND w.phone_number_ref = p.phone_number_ref
        AND w.kind = 'meta' AND (w.active OR w.paused_reason IS NOT NULL)
      ORDER BY p.ord
      RETURNING id, project_id, event, phone_number_ref, created_at),
    notices AS (
      SELECT 0 AS part, e.ord::float8 AS at, e.id, e.project_id, e.type, e.phone_number_ref,
        e.conversation_id, e.message_id,
        EXISTS (SELECT 1 FROM deliveries) OR EXISTS (SELECT 1 FROM buffer_items) AS dispatch,
        EXISTS (SELECT 1 FROM buffer_items) AS buffered
      FROM new_events e
      UNION ALL
      SELECT 1, extract(epoch FROM d.created_at)::float8, d.id, d.project_id, d.event, d.phone_number_ref,
        NULL::uuid, NULL::uuid, true, false
      FROM meta_deliveries d
      ORDER BY part, at)
    SELECT n.id, n.project_id, n.type, n.phone_number_ref, n.conversation_id, n.message_id, n.dispatch, n.buffered
    FROM notices n, LATERAL (SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object(
      'id', n.id, 'project_id', n.project_id, 'type', n.type, 'phone_number_ref', n.phone_number_ref,
      'conversation_id', n.conversation_id, 'message_id', n.message_id, 'dispatch', n.dispatch,
      'buffered', n.buffered)::text)) AS announced`);
}

/** A change only open inboxes care about; `messageId` names the stored message it is about. */
export interface InboxChange {
  type: string;
  projectId: string;
  conversationId: string;
  messageId?: string;
}

/**
 * Tells every open inbox (in any process) that conversations changed, once the caller's
 * transaction commits: one statement for all of `changes`.
 */
export async function announceToInboxes(tx: Queryable, ...changes: InboxChange[]): Promise<void> {
  if (changes.length === 0) return;
  await notify(
    tx,
    INBOX_CHANNEL,
    changes.map((change) => ({
      type: change.type,
      project_id: change.projectId,
      conversation_id: change.conversationId,
      ...(change.messageId ? { message_id: change.messageId } : {}),
    })),
  );
}

/** Meta's webhook body for one number's `meta` webhook; `field` is Meta's change field (`messages`, …). */
export interface MetaPayload {
  projectId: string;
  phoneNumberRef: string;
  body: string;
  field: string;
}
