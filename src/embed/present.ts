import { SERVICE_WINDOW_MS } from "../messaging/send.ts";
import { presentConversation } from "../modules/conversations/presenter.ts";
import type { ConversationRow } from "../modules/conversations/store.ts";

/**
 * A conversation as the inbox page reads it: the API's object plus the inbox's unread count,
 * whether the contact wrote last (what the `unread` and `handoff` filters look at), and what
 * the details panel shows: the contact's names and the business number.
 */
export function presentEmbedConversation(row: ConversationRow) {
  return {
    ...presentConversation(row),
    unread_count: row.unread_count,
    awaiting_reply: row.awaiting_reply,
    contact: {
      id: row.contact_id,
      display_name: row.contact_display_name,
      profile_name: row.contact_profile_name,
    },
    business_number: { display_phone_number: row.number_display_phone_number, name: row.number_name },
    // When free-form replies stop being possible (then only templates), from the contact's
    // last message in this conversation.
    service_window_expires_at: row.last_inbound_at
      ? new Date(Date.parse(row.last_inbound_at) + SERVICE_WINDOW_MS).toISOString()
      : null,
  };
}
