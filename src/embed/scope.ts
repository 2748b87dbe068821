import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { notFound } from "../http/errors.ts";
import { isUuid } from "../lib/ids.ts";
import {
  type ConversationFilters,
  type ConversationRow,
  findConversation,
} from "../modules/conversations/store.ts";
import type { InboxEmbedRow } from "../modules/inbox-embeds/store.ts";

/** The embed fields its scope is made of. */
export type EmbedScope = Pick<InboxEmbedRow, "project_id" | "scope_type" | "scope_id" | "assigned_user_id">;

/** What decides whether a conversation is inside an embed's scope. */
export interface ScopeFacts {
  project_id: string;
  /** Meta's id of the conversation's number. */
  phone_number_id: string;
  customer_id: string | null;
  /** Users actively assigned to the conversation. */
  assignee_ids: string[];
}

/** The conversation filters an embed's scope imposes on lists, whatever the iframe asks. */
export function scopeFilters(embed: EmbedScope): ConversationFilters {
  return {
    ...(embed.scope_type === "customer" ? { customerId: embed.scope_id! } : {}),
    ...(embed.scope_type === "phone_number" ? { phoneNumberId: embed.scope_id! } : {}),
    ...(embed.assigned_user_id ? { assignedUserId: embed.assigned_user_id } : {}),
  };
}

/**
 * Whether one conversation is inside the scope: the same rule as `scopeFilters`, for a single
 * conversation (the thread API and live pushes).
 */
export function inScope(embed: EmbedScope, facts: ScopeFacts): boolean {
  if (facts.project_id !== embed.project_id) return false;
  if (embed.scope_type === "phone_number" && facts.phone_number_id !== embed.scope_id) return false;
  if (embed.scope_type === "customer" && facts.customer_id !== embed.scope_id) return false;
  if (embed.assigned_user_id && !facts.assignee_ids.includes(embed.assigned_user_id)) return false;
  return true;
}

/** The scope facts of a conversation the inbox lists (live number, contact not erased), or undefined. */
export async function scopeFacts(db: Queryable, conversationId: string): Promise<ScopeFacts | undefined> {
  const [row] = await db.query<ScopeFacts>(sql`
    SELECT v.project_id, pn.phone_number_id, pn.customer_id::text AS customer_id,
      ARRAY(SELECT a.user_id::text FROM conversation_assignments a
            WHERE a.conversation_id = v.id AND a.active) AS assignee_ids
    FROM conversations v JOIN phone_numbers pn ON pn.id = v.phone_number_ref
      JOIN contacts c ON c.id = v.contact_id
    WHERE v.id = ${conversationId} AND pn.deleted_at IS NULL AND c.erased_at IS NULL`);
  return row;
}

/** A conversation the embed may see, or 404 (outside the scope is the same as not existing). */
export async function scopedConversation(
  ctx: AppContext,
  embed: EmbedScope,
  id: string,
): Promise<ConversationRow> {
  if (!isUuid(id)) throw notFound("Conversation");
  const facts = await scopeFacts(ctx.db, id);
  const row =
    facts && inScope(embed, facts) ? await findConversation(ctx.db, embed.project_id, id) : undefined;
  if (!row) throw notFound("Conversation");
  return row;
}
