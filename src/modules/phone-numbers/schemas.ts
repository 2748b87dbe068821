import { type Static, Type } from "typebox";
import { Nullable, NullableTimestamp, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

export const PHONE_NUMBER_KINDS = ["production", "sandbox"] as const;
const Kind = Type.Enum(PHONE_NUMBER_KINDS, {
  description: "production uses Meta credentials; sandbox is served by Parley's built-in sandbox",
});

/** The `WhatsappPhoneNumber` schema of the Kapso Platform API (no secrets), plus `kind`. */
export const WhatsappPhoneNumber = Type.Object({
  id: Type.String({ description: "Meta phone number ID" }),
  internal_id: Uuid,
  phone_number_id: Type.String({ description: "Meta phone number ID (same as id)" }),
  name: Type.String(),
  business_account_id: Nullable(Type.String()),
  is_coexistence: Nullable(Type.Boolean()),
  inbound_processing_enabled: Type.Boolean(),
  calls_enabled: Type.Boolean(),
  webhook_verified_at: NullableTimestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  customer_id: Nullable(Uuid),
  display_name: Nullable(Type.String()),
  display_phone_number: Nullable(Type.String()),
  display_phone_number_normalized: Nullable(Type.String()),
  verified_name: Nullable(Type.String()),
  quality_rating: Nullable(Type.String()),
  code_verification_status: Nullable(Type.String()),
  name_status: Nullable(Type.String()),
  status: Nullable(Type.String()),
  throughput_tier: Nullable(Type.String()),
  whatsapp_business_manager_messaging_limit: Nullable(Type.Union([Type.Integer(), Type.String()])),
  is_official_business_account: Nullable(Type.Boolean()),
  is_pin_enabled: Nullable(Type.Boolean()),
  kind: Kind,
});

export const PhoneNumberParams = Type.Object({
  phone_number_id: Type.String({ maxLength: 64, description: "Meta phone number ID" }),
});
export const CustomerParams = Type.Object({ customer_id: Uuid });

export const ListPhoneNumbersQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ maxLength: 64 })),
  business_account_id: Type.Optional(Type.String({ maxLength: 64 })),
  customer_id: Type.Optional(Uuid),
  messaging_enabled: Type.Optional(
    Type.Boolean({ description: "true: numbers whose Meta status is CONNECTED; false: the others" }),
  ),
  name_contains: Type.Optional(Type.String({ maxLength: 255 })),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  ...OffsetQuery,
});

const MetaId = Type.String({ minLength: 1, maxLength: 64 });
const Secret = Type.String({ minLength: 1, maxLength: 4096 });
const WebhookUrl = Nullable(Type.String({ format: "uri", maxLength: 2048 }));

export const CreatePhoneNumberBody = Type.Object({
  whatsapp_phone_number: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 255 }),
    kind: Type.Optional(Kind),
    phone_number_id: Type.Optional(MetaId),
    business_account_id: Type.Optional(MetaId),
    access_token: Type.Optional(Secret),
    webhook_verify_token: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
    webhook_destination_url: Type.Optional(WebhookUrl),
    inbound_processing_enabled: Type.Optional(Type.Boolean()),
    calls_enabled: Type.Optional(Type.Boolean()),
  }),
});

export const UpdatePhoneNumberBody = Type.Object({
  whatsapp_phone_number: Type.Object({
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    kind: Type.Optional(Kind),
    phone_number_id: Type.Optional(MetaId),
    business_account_id: Type.Optional(MetaId),
    access_token: Type.Optional(Secret),
    webhook_verify_token: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
    webhook_destination_url: Type.Optional(WebhookUrl),
    inbound_processing_enabled: Type.Optional(Type.Boolean()),
    calls_enabled: Type.Optional(Type.Boolean()),
  }),
});

const Check = Type.Object(
  {
    passed: Nullable(Type.Boolean()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    error: Type.Optional(Type.String()),
    overall_status: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export const HEALTH_STATUSES = ["healthy", "degraded", "unhealthy", "error"] as const;

export const PhoneNumberHealth = Type.Object({
  status: Type.Enum(HEALTH_STATUSES),
  timestamp: Timestamp,
  checks: Type.Optional(Nullable(Type.Record(Type.String(), Check))),
  error: Type.Optional(Nullable(Type.String())),
  retry_after: Type.Optional(Timestamp),
});

export type CreatePhoneNumberInput = Static<typeof CreatePhoneNumberBody>["whatsapp_phone_number"];
export type UpdatePhoneNumberInput = Static<typeof UpdatePhoneNumberBody>["whatsapp_phone_number"];
export type ListPhoneNumbersFilters = Static<typeof ListPhoneNumbersQuery>;
export type PhoneNumberHealthPayload = Static<typeof PhoneNumberHealth>;
