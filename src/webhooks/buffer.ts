import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { json } from "../db/sql.ts";
import { EVENTS_CHANNEL } from "../events/publish.ts";

/** Kapso's defaults for a buffered webhook. */
export const DEFAULT_BUFFER_WINDOW_SECONDS = 5;
export const DEFAULT_MAX_BUFFER_SIZE = 50;

/** A buffered event's v2 payload (`whatsapp.message.received`). */
type EventPayload = Record<string, unknown> & {
  message?: Record<string, unknown> & { kapso?: Record<string, unknown> };
  conversation?: { phone_number?: string };
  phone_number_id?: string;
};

interface BufferItem {
  id: string;
  project_id: string;
  webhook_id: string;
  conversation_id: string;
  phone_number_ref: string | null;
  event: string;
  payload: EventPayload;
  seq: number;
}

/** The body of a batch delivery. */
export interface BatchPayload {
  type: string;
  batch: true;
  data: EventPayload[];
  batch_info: Record<string, unknown>;
}

/** An event as a batch carries it: each `message.kapso` also names the conversation's phone and the number. */
function batchItem(p: EventPayload): EventPayload {
  return {
    ...p,
    message: p.message && {
      ...p.message,
      kapso: {
        ...p.message.kapso,
        phone_number: p.conversation?.phone_number ?? null,
        phone_number_id: p.phone_number_id ?? null,
      },
    },
  };
}

/** The inverse of `batchItem`: the event as a delivery without buffering carries it. */
function singleEvent(item: EventPayload): EventPayload {
  if (!item.message?.kapso) return item;
  const { phone_number: _phone, phone_number_id: _id, ...kapso } = item.message.kapso;
  return { ...item, message: { ...item.message, kapso } };
}

/**
 * Turns the buffers that are due into batch deliveries: a conversation's buffer is due once
 * no message has joined it for the webhook's window (a debounce), or at once when it holds
 * `max_buffer_size` messages. Returns how many batches were written.
 */
export async function flushDueBuffers(ctx: AppContext): Promise<number> {
  const due = await ctx.db.query<{ webhook_id: string; conversation_id: string }>(sql`
    SELECT b.webhook_id, b.conversation_id
    FROM webhook_buffer_items b JOIN webhooks w ON w.id = b.webhook_id
    GROUP BY b.webhook_id, b.conversation_id, w.buffer_window_seconds, w.max_buffer_size
    HAVING max(b.created_at) <= clock_timestamp()
        - make_interval(secs => COALESCE(w.buffer_window_seconds, ${DEFAULT_BUFFER_WINDOW_SECONDS}))
      OR count(*) >= COALESCE(w.max_buffer_size, ${DEFAULT_MAX_BUFFER_SIZE})
    LIMIT 100`);
  let written = 0;
  for (const { webhook_id, conversation_id } of due) {
    if (await flushBuffer(ctx, webhook_id, conversation_id)) written++;
  }
  return written;
}

/**
 * Takes up to `max_buffer_size` of a conversation's buffered messages (SKIP LOCKED: another
 * process flushing the same buffer takes nothing) and writes them as one batch delivery, in
 * the same transaction, so a message is either still buffered or in exactly one batch.
 */
async function flushBuffer(ctx: AppContext, webhookId: string, conversationId: string): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    const [webhook] = await tx.query<{ window: number; size: number }>(sql`
      SELECT COALESCE(buffer_window_seconds, ${DEFAULT_BUFFER_WINDOW_SECONDS}) AS window,
             COALESCE(max_buffer_size, ${DEFAULT_MAX_BUFFER_SIZE}) AS size
      FROM webhooks WHERE id = ${webhookId}`);
    if (!webhook) return false;
    const items = await tx.query<BufferItem>(sql`
      DELETE FROM webhook_buffer_items WHERE id IN (
        SELECT id FROM webhook_buffer_items
        WHERE webhook_id = ${webhookId} AND conversation_id = ${conversationId}
        ORDER BY seq LIMIT ${webhook.size} FOR UPDATE SKIP LOCKED)
      RETURNING *`);
    if (items.length === 0) return false;
    items.sort((a, b) => a.seq - b.seq);
    const first = items[0]!;
    const payload: BatchPayload = {
      type: first.event,
      batch: true,
      data: items.map(({ payload: p }) => batchItem(p)),
      batch_info: {
        size: items.length,
        window_ms: webhook.window * 1000,
        first_sequence: first.seq,
        last_sequence: items[items.length - 1]!.seq,
        conversation_id: conversationId,
      },
    };
    await tx.query(sql`
      INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, phone_number_ref, conversation_id, batch_size)
      VALUES (${first.project_id}, ${webhookId}, ${first.event}, ${json(payload)}, ${first.phone_number_ref},
        ${conversationId}, ${items.length})`);
    await tx.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, '{}')`);
    return true;
  });
}

/**
 * Re-sends a batch that failed for good as single events, inside the caller's transaction (the
 * one that marks it failed): one ordinary delivery per message, to the same webhook, with the
 * body the message gets without buffering and an id (so an `X-Idempotency-Key`) of its own,
 * in the batch's order. The singles follow the usual rules (retries, the conversation's order,
 * held while the webhook is paused). A batch is split once: if it is redelivered by hand and
 * fails again, nothing more is written; nor is anything when its webhook was deleted.
 */
export async function resendAsSingles(tx: Queryable, batchId: string, batch: BatchPayload): Promise<number> {
  const singles = await tx.query<{ id: string }>(sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, phone_number_ref, conversation_id,
      batch_delivery_id)
    SELECT b.project_id, b.webhook_id, b.event, s.payload::jsonb, b.phone_number_ref, b.conversation_id, b.id
    FROM webhook_deliveries b JOIN webhooks w ON w.id = b.webhook_id
      CROSS JOIN unnest(${batch.data.map((item) => JSON.stringify(singleEvent(item)))}::text[])
        WITH ORDINALITY AS s(payload, n)
    WHERE b.id = ${batchId}
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.batch_delivery_id = b.id)
    ORDER BY s.n
    RETURNING id`);
  if (singles.length > 0) await tx.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, '{}')`);
  return singles.length;
}
