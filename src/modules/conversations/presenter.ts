import type { ConversationRow } from "./store.ts";

/** The API's `WhatsappConversation` (also the `conversation` of v2 webhook payloads). */
export function presentConversation(row: ConversationRow) {
  return {
    id: row.id,
    phone_number: row.wa_id,
    business_scoped_user_id: row.business_scoped_user_id,
    parent_business_scoped_user_id: row.parent_business_scoped_user_id,
    username: row.username,
    status: row.status,
    last_active_at: row.last_active_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
    metadata: row.metadata,
    phone_number_id: row.phone_number_id,
    kapso: {
      contact_name: row.contact_name,
      messages_count: row.messages_count,
      last_message_id: row.last_message_id,
      last_message_type: row.last_message_type,
      last_message_timestamp: row.last_message_timestamp,
      last_message_text: row.last_message_text,
      last_inbound_at: row.last_inbound_at,
      last_outbound_at: row.last_outbound_at,
    },
  };
}

export type WhatsappConversation = ReturnType<typeof presentConversation>;
