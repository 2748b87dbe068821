import { type Static, Type } from "typebox";
import { Nullable, NullableTimestamp, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

export const BROADCAST_STATUSES = [
  "draft",
  "scheduled",
  "copying",
  "sending",
  "stopped",
  "completed",
  "failed",
] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

export const RECIPIENT_STATUSES = ["pending", "sent", "failed", "suppressed"] as const;

/** `WhatsappBroadcastTemplate`: the template a broadcast sends. */
export const BroadcastTemplate = Type.Object({
  id: Type.String(),
  meta_template_id: Nullable(Type.String()),
  name: Type.String(),
  language_code: Type.String(),
  category: Type.String(),
  status: Type.String(),
  quality_score: Nullable(Type.Enum(["GREEN", "YELLOW", "RED", "UNKNOWN"])),
  components: Type.Array(Type.Record(Type.String(), Type.Unknown())),
});
export type BroadcastTemplate = Static<typeof BroadcastTemplate>;

const Count = Type.Integer({ minimum: 0 });

/** The `WhatsappBroadcast` schema of the Kapso Platform API, plus Parley's `sandbox` flag. */
export const Broadcast = Type.Object({
  id: Uuid,
  name: Type.String(),
  status: Type.Enum(BROADCAST_STATUSES),
  phone_number_id: Nullable(Type.String()),
  whatsapp_template: Nullable(BroadcastTemplate),
  scheduled_at: NullableTimestamp,
  started_at: NullableTimestamp,
  stopped_at: NullableTimestamp,
  completed_at: NullableTimestamp,
  total_recipients: Count,
  sent_count: Count,
  failed_count: Count,
  delivered_count: Count,
  read_count: Count,
  pending_count: Count,
  responded_count: Count,
  suppressed_count: Count,
  response_rate: Type.Number({ minimum: 0 }),
  sandbox: Type.Boolean({ description: "Parley: true when the number is a sandbox number" }),
  created_at: Timestamp,
  updated_at: Timestamp,
});

/** `WhatsappBroadcastSendResponse`: answer of send, schedule and cancel. */
export const BroadcastSendResponse = Type.Object({
  data: Type.Object({
    id: Uuid,
    status: Type.String(),
    scheduled_at: NullableTimestamp,
    started_at: NullableTimestamp,
    stopped_at: NullableTimestamp,
    completed_at: NullableTimestamp,
  }),
});

/** The `WhatsappBroadcastRecipient` schema. */
export const BroadcastRecipient = Type.Object({
  id: Uuid,
  phone_number: Type.String(),
  status: Type.Enum(RECIPIENT_STATUSES),
  sent_at: NullableTimestamp,
  failed_at: NullableTimestamp,
  delivered_at: NullableTimestamp,
  read_at: NullableTimestamp,
  responded_at: NullableTimestamp,
  error_message: Nullable(Type.String()),
  error_details: Nullable(Type.Record(Type.String(), Type.Unknown())),
  template_components: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const BroadcastParams = Type.Object({
  // Checked in the service, so that a malformed id answers "Broadcast not found".
  broadcast_id: Type.String({ maxLength: 64 }),
});

export const ListBroadcastsQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ maxLength: 64 })),
  status: Type.Optional(Type.Enum(BROADCAST_STATUSES)),
  created_after: Type.Optional(Type.String({ format: "date-time" })),
  created_before: Type.Optional(Type.String({ format: "date-time" })),
  ...OffsetQuery,
});
export type ListBroadcastsFilters = Omit<Static<typeof ListBroadcastsQuery>, "page" | "per_page">;

export const ListRecipientsQuery = Type.Object({ ...OffsetQuery });

export const CreateBroadcastBody = Type.Object({
  whatsapp_broadcast: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 255 }),
    phone_number_id: Type.String({ minLength: 1, maxLength: 64 }),
    whatsapp_template_id: Type.String({ minLength: 1, maxLength: 64 }),
  }),
});
export type CreateBroadcastInput = Static<typeof CreateBroadcastBody>["whatsapp_broadcast"];

/** Copy (a Parley extension): the body (a missing one is `{}`) and its fields are optional. */
export const CopyBroadcastBody = Type.Object({
  whatsapp_broadcast: Type.Optional(
    Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
  ),
});

const TemplateParameter = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    parameter_name: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

/** One component of a recipient's template parameters, Meta style. */
export const RecipientComponent = Type.Object(
  {
    type: Type.Enum(["header", "body", "button"]),
    sub_type: Type.Optional(Type.String()),
    index: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: "^[0-9]+$" })])),
    parameters: Type.Optional(Type.Array(TemplateParameter)),
  },
  { additionalProperties: false },
);
export type RecipientComponent = Static<typeof RecipientComponent>;

export const NewRecipient = Type.Object(
  {
    phone_number: Type.Optional(Type.String({ maxLength: 64 })),
    whatsapp_contact_id: Type.Optional(Type.String({ maxLength: 64 })),
    components: Type.Optional(Type.Array(RecipientComponent)),
  },
  { additionalProperties: false },
);
export type NewRecipient = Static<typeof NewRecipient>;

/** At most this many recipients per add request. */
export const MAX_RECIPIENTS_PER_REQUEST = 1000;

export const AddRecipientsBody = Type.Object({
  whatsapp_broadcast: Type.Object({
    // The 1000 limit is checked in the service to answer with Kapso's own sentence.
    recipients: Type.Array(NewRecipient, { minItems: 1 }),
  }),
});

export const AddRecipientsResponse = Type.Object({
  data: Type.Object({
    added: Count,
    duplicates: Count,
    errors: Type.Array(Type.String()),
  }),
});

export const UpdateBroadcastStatusBody = Type.Object({
  whatsapp_broadcast: Type.Object({ status: Type.Enum(["draft", "stopped"]) }),
});

export const ScheduleBroadcastBody = Type.Object({
  scheduled_at: Type.String({ format: "date-time" }),
});
