import sql from "sql-template-tag";
import type { AppContext } from "../../context.ts";
import { publishEvents } from "../../events/publish.ts";
import type { Server } from "../../http/types.ts";
import { registerRecurringJob } from "../../jobs/recurring.ts";
import { presentConversation } from "./presenter.ts";
import { findConversation } from "./store.ts";

export const END_IDLE_CONVERSATIONS_QUEUE = "end-idle-conversations";
const BATCH = 500;

/**
 * Ends active conversations with no message for `PARLEY_CONVERSATION_TIMEOUT_HOURS`, each with
 * its `whatsapp.conversation.ended` event. Batches use SKIP LOCKED, so processes running the
 * job at once share the work instead of ending a conversation twice. Returns how many ended.
 */
export async function endIdleConversations(ctx: AppContext): Promise<number> {
  let ended = 0;
  for (;;) {
    const count = await ctx.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; project_id: string }>(sql`
        UPDATE conversations SET status = 'ended', ended_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE id IN (
          SELECT id FROM conversations
          WHERE status = 'active'
            AND last_active_at < clock_timestamp() - make_interval(hours => ${ctx.config.conversationTimeoutHours})
          ORDER BY last_active_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING id, project_id`);
      const events = [];
      for (const row of rows) {
        const conversation = (await findConversation(tx, row.project_id, row.id))!;
        events.push({
          type: "whatsapp.conversation.ended",
          projectId: row.project_id,
          phoneNumberRef: conversation.phone_number_ref,
          conversationId: row.id,
          payload: {
            conversation: presentConversation(conversation),
            phone_number_id: conversation.phone_number_id,
            reason: "inactivity",
          },
        });
      }
      await publishEvents(tx, events);
      return rows.length;
    });
    ended += count;
    if (count < BATCH) return ended;
  }
}

/** Runs `endIdleConversations` every five minutes on pg-boss's durable schedule. */
export function registerIdleConversationJob(app: Server, ctx: AppContext): void {
  registerRecurringJob(app, ctx, END_IDLE_CONVERSATIONS_QUEUE, "*/5 * * * *", () =>
    endIdleConversations(ctx),
  );
}
