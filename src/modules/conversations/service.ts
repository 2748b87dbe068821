import type { AppContext } from "../../context.ts";
import { announceToInboxes, publishEvents } from "../../events/publish.ts";
import { invalid, notFound } from "../../http/errors.ts";
import { cursorPage } from "../../http/pagination.ts";
import { findProjectMember } from "../users/store.ts";
import { presentConversation } from "./presenter.ts";
import type { ListConversationsFilters } from "./schemas.ts";
import * as store from "./store.ts";

export async function listConversations(ctx: AppContext, projectId: string, q: ListConversationsFilters) {
  if (q.unassigned && q.assigned_user_id)
    throw invalid("unassigned", "cannot be combined with assigned_user_id");
  if (q.assigned_user_id && !(await findProjectMember(ctx.db, projectId, q.assigned_user_id))) {
    throw invalid("assigned_user_id", "must be the user_id of a member of this project");
  }
  const params = { limit: q.limit ?? 20, before: q.before, after: q.after };
  const { rows, direction } = await store.listConversations(
    ctx.db,
    projectId,
    {
      phoneNumberId: q.phone_number_id,
      phoneNumber: q.phone_number,
      status: q.status,
      assignedUserId: q.assigned_user_id,
      unassigned: q.unassigned,
      createdAfter: q.created_after,
      createdBefore: q.created_before,
      lastActiveAfter: q.last_active_after,
      lastActiveBefore: q.last_active_before,
    },
    params,
  );
  const page = cursorPage(rows, params, direction, (r) => ({
    column: "last_active_at",
    value: r.last_active_at,
    id: r.id,
  }));
  return { data: page.data.map(presentConversation), paging: page.paging };
}

export async function getConversation(ctx: AppContext, projectId: string, id: string) {
  const row = await store.findConversation(ctx.db, projectId, id);
  if (!row) throw notFound("Conversation");
  return presentConversation(row);
}

/**
 * Ends or reopens a conversation. Reopening refuses when the contact already has another
 * active conversation on the number (one active conversation per contact and number).
 */
export async function updateConversationStatus(
  ctx: AppContext,
  projectId: string,
  id: string,
  status: "active" | "ended",
) {
  return ctx.db.transaction(async (tx) => {
    const result = await store
      .setConversationStatus(tx, projectId, id, status)
      .catch((err: { code?: string }) => {
        if (err.code === "23505") {
          throw invalid(
            "whatsapp_conversation.status",
            "cannot be active: the contact has another active conversation on this number",
          );
        }
        throw err;
      });
    if (!result) throw notFound("Conversation");
    const row = (await store.findConversation(tx, projectId, id))!;
    if (result.changed && status === "ended") {
      await publishEvents(tx, [
        {
          type: "whatsapp.conversation.ended",
          projectId,
          phoneNumberRef: row.phone_number_ref,
          conversationId: id,
          payload: {
            conversation: presentConversation(row),
            phone_number_id: row.phone_number_id,
            reason: "manual",
          },
        },
      ]);
    } else if (result.changed) {
      // Reopening has no webhook event; open inboxes still need to hear about it.
      await announceToInboxes(tx, { type: "inbox.conversation.reopened", projectId, conversationId: id });
    }
    return presentConversation(row);
  });
}
