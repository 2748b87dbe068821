import { type Static, Type } from "typebox";
import { CursorQuery, Nullable, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

/** The events Parley publishes (the v2 catalogue it implements). */
export const WEBHOOK_EVENTS = [
  "whatsapp.phone_number.created",
  "whatsapp.phone_number.deleted",
  "whatsapp.message.received",
  "whatsapp.message.sent",
  "whatsapp.message.delivered",
  "whatsapp.message.read",
  "whatsapp.message.failed",
  "whatsapp.conversation.created",
  "whatsapp.conversation.ended",
  "whatsapp.conversation.inactive",
  "whatsapp.contact.identity_changed",
  "whatsapp.contact.marketing_preference_changed",
] as const;
export const PROJECT_EVENTS = ["whatsapp.phone_number.created", "whatsapp.phone_number.deleted"];
/** Payload versions: `v2` (the default) and Kapso's legacy `v1`. */
export const PAYLOAD_VERSIONS = ["v1", "v2"] as const;
/** The only event a webhook can buffer into batches. */
export const BUFFERABLE_EVENTS = ["whatsapp.message.received"] as const;

/** The `WhatsappWebhook` schema of the Kapso Platform API. */
export const WhatsappWebhook = Type.Object({
  id: Uuid,
  url: Type.String(),
  kind: Type.Enum(["kapso", "meta"]),
  events: Type.Array(Type.String()),
  active: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
  project_id: Uuid,
  phone_number_id: Nullable(Type.String()),
  secret_key: Nullable(Type.String()),
  headers: Nullable(Type.Record(Type.String(), Type.String())),
  buffer_enabled: Nullable(Type.Boolean()),
  buffer_window_seconds: Nullable(Type.Integer()),
  max_buffer_size: Nullable(Type.Integer()),
  buffer_events: Type.Array(Type.String()),
  inactivity_minutes: Nullable(Type.Integer()),
  payload_version: Nullable(Type.String()),
  paused_at: Type.Union([Timestamp, Type.Null()], {
    description: "Parley: when repeated delivery failures paused the webhook (null otherwise)",
  }),
  paused_reason: Type.Union([Type.String(), Type.Null()], {
    description: "Parley: why repeated delivery failures paused the webhook (null otherwise)",
  }),
});

const Fields = {
  url: Type.Optional(Type.String({ format: "uri", maxLength: 2048 })),
  secret_key: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
  active: Type.Optional(Type.Boolean()),
  events: Type.Optional(Type.Array(Type.String(), { maxItems: 50 })),
  headers: Type.Optional(Nullable(Type.Record(Type.String(), Type.String({ maxLength: 1024 })))),
  kind: Type.Optional(Type.Enum(["kapso", "meta"])),
  buffer_enabled: Type.Optional(Type.Boolean()),
  buffer_window_seconds: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 60 }))),
  max_buffer_size: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 100 }))),
  buffer_events: Type.Optional(Type.Array(Type.String())),
  inactivity_minutes: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1440 }))),
  payload_version: Type.Optional(Nullable(Type.Enum(PAYLOAD_VERSIONS))),
};

export const CreateWebhookBody = Type.Object({
  whatsapp_webhook: Type.Object({
    ...Fields,
    phone_number_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  }),
});
export const UpdateWebhookBody = Type.Object({ whatsapp_webhook: Type.Object(Fields) });

export const WebhookParams = Type.Object({ webhook_id: Uuid });
export const NumberParams = Type.Object({ phone_number_id: Type.String({ maxLength: 64 }) });
export const NumberWebhookParams = Type.Object({
  phone_number_id: Type.String({ maxLength: 64 }),
  webhook_id: Uuid,
});

export const ListWebhooksQuery = Type.Object({
  kind: Type.Optional(Type.Enum(["kapso", "meta"])),
  url_contains: Type.Optional(Type.String({ maxLength: 255 })),
  active: Type.Optional(Type.Boolean()),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  ...OffsetQuery,
});

export const WebhookDelivery = Type.Object({
  id: Uuid,
  event: Type.String(),
  status: Type.Enum(["pending", "delivered", "failed"]),
  response_status: Nullable(Type.Integer()),
  delivered_at: Nullable(Timestamp),
  failed_at: Nullable(Timestamp),
  last_attempt_at: Nullable(Timestamp),
  attempt_count: Type.Integer(),
  created_at: Timestamp,
  webhook_id: Nullable(Uuid),
  webhook_url: Nullable(Type.String()),
  whatsapp_config_id: Nullable(Uuid),
  phone_number_id: Nullable(Type.String()),
  conversation_phone_number: Nullable(Type.String()),
});

export const DeliveryParams = Type.Object({ delivery_id: Uuid });

const Attempt = Type.Object({
  attempt: Type.Integer({ description: "1 for the first attempt" }),
  started_at: Timestamp,
  duration_ms: Type.Number({ description: "Until the receiver's answer (or the error)" }),
  request: Type.Object({
    url: Type.String(),
    headers: Type.Record(Type.String(), Type.String(), {
      description: "As sent, including X-Webhook-Signature and the webhook's custom headers",
    }),
  }),
  response: Type.Union(
    [
      Type.Object({
        status: Type.Integer(),
        body: Type.String({ description: "The first 2,048 bytes of the receiver's answer" }),
      }),
      Type.Null(),
    ],
    { description: "Null when no answer came (refused address, timeout, connection error)" },
  ),
  error: Type.Union([Type.String(), Type.Null()], { description: "Why no answer came" }),
});

/** Parley's detail of one delivery (`GET /webhook_deliveries/{id}`, beyond Kapso). */
export const WebhookDeliveryDetail = Type.Object({
  ...WebhookDelivery.properties,
  idempotency_key: Type.String({ description: "The X-Idempotency-Key of every attempt" }),
  next_attempt_at: Type.Union([Timestamp, Type.Null()], {
    description: "When a pending delivery is tried next",
  }),
  last_error: Nullable(Type.String()),
  redelivered_at: Type.Union([Timestamp, Type.Null()], {
    description: "When it was last queued again by hand",
  }),
  batch_delivery_id: Type.Union([Uuid, Type.Null()], {
    description: "The batch that failed for good and was re-sent as single events, this one among them",
  }),
  resent_as: Type.Array(Uuid, {
    description: "For a batch that failed for good: the single deliveries it was re-sent as, in order",
  }),
  request: Type.Object({
    body: Type.String({ description: "The body every attempt sends (the first 65,536 characters)" }),
    body_truncated: Type.Boolean(),
  }),
  attempts: Type.Array(Attempt, { description: "Oldest first" }),
});

export const ListDeliveriesQuery = Type.Object({
  status: Type.Optional(Type.Enum(["pending", "delivered", "failed"])),
  event: Type.Optional(Type.String({ maxLength: 100 })),
  webhook_id: Type.Optional(Uuid),
  errors_only: Type.Optional(Type.Boolean()),
  period: Type.Optional(Type.Enum(["24h", "7d", "30d"])),
  ...CursorQuery,
});

export type WebhookInput = Static<typeof CreateWebhookBody>["whatsapp_webhook"];
export type ListWebhooksFilters = Static<typeof ListWebhooksQuery>;
export type ListDeliveriesFilters = Static<typeof ListDeliveriesQuery>;
