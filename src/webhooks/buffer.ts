import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { json } from "../db/sql.ts";
import { EVENTS_CHANNEL } from "../events/publish.ts";

/** Kapso's defaults for a buffered webhook. */
export const DEFAULT_BUFFER_WINDOW_SECONDS = 5;
export const DEFAULT_MAX_BUFFER_SIZE = 50;

interface BufferItem {
  id: string;
  project_id: string;
  webhook_id: string;
  conversation_id: string;
  phone_number_ref: string | null;
  event: string;
  payload: Record<string, unknown> & {
    message?: Record<string, unknown>;
    conversation?: { phone_number?: string };
  };
  seq: number;
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
    const payload = {
      type: first.event,
      batch: true,
      data: items.map(({ payload: p }) => ({
        ...p,
        message: p.message && {
          ...p.message,
          kapso: {
            ...(p.message.kapso as Record<string, unknown> | undefined),
            phone_number: p.conversation?.phone_number ?? null,
            phone_number_id: p.phone_number_id ?? null,
          },
        },
      })),
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
