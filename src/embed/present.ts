import { presentConversation } from "../modules/conversations/presenter.ts";
import type { ConversationRow } from "../modules/conversations/store.ts";

/**
 * A conversation as the inbox page reads it: the API's object plus the inbox's unread count and
 * whether the contact wrote last (what the `unread` and `handoff` filters look at).
 */
export function presentEmbedConversation(row: ConversationRow) {
  return { ...presentConversation(row), unread_count: row.unread_count, awaiting_reply: row.awaiting_reply };
}
