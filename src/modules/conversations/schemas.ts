import { type Static, Type } from "typebox";
import {
  CursorList,
  CursorQuery,
  Envelope,
  Nullable,
  NullableTimestamp,
  Timestamp,
  Uuid,
} from "../../http/schemas.ts";

const Status = Type.Enum(["active", "ended"]);

/** The `WhatsappConversation` schema of the Kapso Platform API. */
export const WhatsappConversation = Type.Object({
  id: Uuid,
  phone_number: Nullable(Type.String()),
  business_scoped_user_id: Nullable(Type.String()),
  parent_business_scoped_user_id: Nullable(Type.String()),
  username: Nullable(Type.String()),
  status: Status,
  last_active_at: Timestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  metadata: Type.Record(Type.String(), Type.Unknown()),
  phone_number_id: Nullable(Type.String()),
  kapso: Nullable(
    Type.Object({
      contact_name: Nullable(Type.String()),
      messages_count: Type.Integer({ minimum: 0 }),
      last_message_id: Nullable(Type.String()),
      last_message_type: Nullable(Type.String()),
      last_message_timestamp: NullableTimestamp,
      last_message_text: Nullable(Type.String()),
      last_inbound_at: NullableTimestamp,
      last_outbound_at: NullableTimestamp,
    }),
  ),
});

export const ConversationParams = Type.Object({ conversation_id: Uuid });

export const ListConversationsQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ maxLength: 64 })),
  phone_number: Type.Optional(Type.String({ maxLength: 32 })),
  status: Type.Optional(Status),
  assigned_user_id: Type.Optional(Uuid),
  unassigned: Type.Optional(Type.Boolean()),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  last_active_after: Type.Optional(Timestamp),
  last_active_before: Type.Optional(Timestamp),
  ...CursorQuery,
});

export const UpdateConversationBody = Type.Object({
  whatsapp_conversation: Type.Object({ status: Status }),
});

export const ConversationList = CursorList(WhatsappConversation);
export const ConversationEnvelope = Envelope(WhatsappConversation);
export type ListConversationsFilters = Static<typeof ListConversationsQuery>;
