import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { publishEvents } from "../events/publish.ts";
import { inTransaction } from "../jobs/boss.ts";
import { presentConversation } from "../modules/conversations/presenter.ts";
import { findConversation } from "../modules/conversations/store.ts";

export const INACTIVITY_EVENT = "whatsapp.conversation.inactive";
/** pg-boss queue of inactivity timers: one queued job per webhook and conversation (policy `short`). */
export const INACTIVITY_QUEUE = "webhook-inactivity";
export const DEFAULT_INACTIVITY_MINUTES = 60;

interface TimerData {
  webhook_id: string;
  conversation_id: string;
}

/**
 * Starts the inactivity timer of every webhook on the number that subscribes to
 * `whatsapp.conversation.inactive`, for each conversation that just had a message, inside the
 * caller's transaction. The queue's `short` policy keeps one queued job per webhook and
 * conversation, so a busy conversation adds nothing while its timer waits; when the timer runs
 * it looks at the latest message and, if the conversation has been active since, waits again.
 */
export async function startInactivityTimers(
  ctx: AppContext,
  tx: Queryable,
  phoneNumberRef: string,
  conversationIds: string[],
): Promise<void> {
  if (conversationIds.length === 0) return;
  const webhooks = await tx.query<{ id: string; minutes: number }>(sql`
    SELECT id, COALESCE(inactivity_minutes, ${DEFAULT_INACTIVITY_MINUTES}) AS minutes FROM webhooks
    WHERE phone_number_ref = ${phoneNumberRef} AND kind = 'kapso' AND ${INACTIVITY_EVENT} = ANY(events)
      AND (active OR paused_reason IS NOT NULL)`);
  for (const webhook of webhooks) {
    for (const conversationId of new Set(conversationIds)) {
      await ctx.jobs.send(
        INACTIVITY_QUEUE,
        { webhook_id: webhook.id, conversation_id: conversationId } satisfies TimerData,
        {
          singletonKey: `${webhook.id}:${conversationId}`,
          startAfter: Math.ceil(webhook.minutes * ctx.config.webhookInactivityMinuteSeconds),
          ...inTransaction(tx),
        },
      );
    }
  }
}

/**
 * One timer firing: publishes `whatsapp.conversation.inactive` to this webhook alone when the
 * conversation's latest message is at least `inactivity_minutes` old and the webhook has not
 * been told about that message yet; otherwise sets the timer again for when it will be.
 */
export async function checkInactivity(ctx: AppContext, data: TimerData): Promise<void> {
  const minuteMs = ctx.config.webhookInactivityMinuteSeconds * 1000;
  const rearm = await ctx.db.transaction(async (tx) => {
    const [webhook] = await tx.query<{ project_id: string; minutes: number; phone_number_ref: string }>(sql`
      SELECT project_id, phone_number_ref, COALESCE(inactivity_minutes, ${DEFAULT_INACTIVITY_MINUTES}) AS minutes
      FROM webhooks
      WHERE id = ${data.webhook_id} AND kind = 'kapso' AND ${INACTIVITY_EVENT} = ANY(events)
        AND (active OR paused_reason IS NOT NULL)`);
    if (!webhook) return undefined;
    const [latest] = await tx.query<{
      id: string;
      wamid: string | null;
      direction: string;
      sent_at: string;
      created_at: string;
    }>(sql`
      SELECT id, wamid, direction, sent_at, created_at FROM messages
      WHERE conversation_id = ${data.conversation_id} ORDER BY sent_at DESC, id DESC LIMIT 1`);
    if (!latest) return undefined;
    const dueAt = Date.parse(latest.sent_at) + webhook.minutes * minuteMs;
    if (dueAt > Date.now()) return Math.ceil((dueAt - Date.now()) / 1000);
    const [fresh] = await tx.query(sql`
      INSERT INTO webhook_inactivity_notices (webhook_id, conversation_id, message_id)
      VALUES (${data.webhook_id}, ${data.conversation_id}, ${latest.id})
      ON CONFLICT (webhook_id, conversation_id) DO UPDATE
        SET message_id = EXCLUDED.message_id, notified_at = clock_timestamp()
        WHERE webhook_inactivity_notices.message_id <> EXCLUDED.message_id
      RETURNING 1 AS fresh`);
    if (!fresh) return undefined;
    const conversation = await findConversation(tx, webhook.project_id, data.conversation_id);
    if (!conversation) return undefined;
    await publishEvents(tx, [
      {
        type: INACTIVITY_EVENT,
        projectId: webhook.project_id,
        phoneNumberRef: webhook.phone_number_ref,
        conversationId: data.conversation_id,
        webhookId: data.webhook_id,
        payload: {
          conversation: presentConversation(conversation),
          since_message: {
            id: latest.id,
            whatsapp_message_id: latest.wamid,
            direction: latest.direction,
            created_at: latest.sent_at,
          },
          inactivity: { minutes: webhook.minutes },
          phone_number_id: conversation.phone_number_id,
        },
      },
    ]);
    return undefined;
  });
  if (rearm !== undefined) {
    await ctx.jobs.send(INACTIVITY_QUEUE, data, {
      singletonKey: `${data.webhook_id}:${data.conversation_id}`,
      startAfter: rearm,
    });
  }
}

/** Runs this process's inactivity-timer worker. */
export async function startInactivityWorker(ctx: AppContext): Promise<void> {
  await ctx.jobs.createQueue(INACTIVITY_QUEUE, { policy: "short" });
  await ctx.jobs.work<TimerData>(INACTIVITY_QUEUE, { pollingIntervalSeconds: 1 }, async (jobs) => {
    for (const job of jobs) await checkInactivity(ctx, job.data);
  });
}

export async function stopInactivityWorker(ctx: AppContext): Promise<void> {
  await ctx.jobs.offWork(INACTIVITY_QUEUE);
}
