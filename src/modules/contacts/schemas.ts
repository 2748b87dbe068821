import { type Static, Type } from "typebox";
import { CursorQuery, Nullable, Timestamp, Uuid } from "../../http/schemas.ts";

/** The `WhatsappContact` schema of the Kapso Platform API. */
export const WhatsappContact = Type.Object({
  id: Uuid,
  wa_id: Nullable(Type.String()),
  business_scoped_user_id: Nullable(Type.String()),
  parent_business_scoped_user_id: Nullable(Type.String()),
  username: Nullable(Type.String()),
  profile_name: Nullable(Type.String()),
  display_name: Nullable(Type.String()),
  customer_id: Nullable(Uuid),
  metadata: Nullable(Type.Record(Type.String(), Type.Unknown())),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const MarketingPreference = Type.Object({
  id: Type.String(),
  phone_number_id: Type.String(),
  status: Type.Enum(["stopped", "resumed"]),
  detail: Nullable(Type.String()),
  source: Type.Enum(["meta_webhook", "meta_delivery_error", "meta_synchronous_error"]),
  marketing_allowed: Type.Boolean(),
  config_display_name: Nullable(Type.String()),
  last_event_at: Timestamp,
  whatsapp_contact_id: Uuid,
  internal_id: Uuid,
  whatsapp_config_id: Uuid,
  whatsapp_config_internal_id: Uuid,
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const ContactParams = Type.Object({ identifier: Type.String({ minLength: 1, maxLength: 128 }) });
export const PreferenceParams = Type.Object({
  identifier: Type.String({ minLength: 1, maxLength: 128 }),
  phone_number_id: Type.String({ minLength: 1, maxLength: 64 }),
});

export const ListContactsQuery = Type.Object({
  customer_id: Type.Optional(Type.String({ maxLength: 64 })),
  customer_external_id: Type.Optional(Type.String({ maxLength: 255 })),
  has_customer: Type.Optional(Type.Boolean()),
  profile_name_contains: Type.Optional(Type.String({ maxLength: 255 })),
  wa_id_contains: Type.Optional(Type.String({ maxLength: 32 })),
  business_scoped_user_id: Type.Optional(Type.String({ maxLength: 128 })),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  page: Type.Optional(Type.Integer({ minimum: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  ...CursorQuery,
});

const Metadata = Type.Record(Type.String(), Type.Unknown());
const ContactFields = {
  profile_name: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  display_name: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  customer_id: Type.Optional(Nullable(Uuid)),
  metadata: Type.Optional(Metadata),
};

export const CreateContactBody = Type.Object({
  contact: Type.Object({ wa_id: Type.String({ minLength: 1, maxLength: 32 }), ...ContactFields }),
});

export const UpdateContactBody = Type.Object({
  contact: Type.Optional(
    Type.Object({ wa_id: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })), ...ContactFields }),
  ),
});

export type ListContactsFilters = Static<typeof ListContactsQuery>;
export type CreateContactInput = Static<typeof CreateContactBody>["contact"];
export type UpdateContactInput = NonNullable<Static<typeof UpdateContactBody>["contact"]>;
