import { type Static, Type } from "typebox";
import { OffsetQuery, Timestamp, Uuid } from "../http/schemas.ts";

export const FAILURE_OPERATIONS = ["send", "template", "media", "number"] as const;
export const FAILURE_MODES = ["sync", "async"] as const;

const PhoneNumberId = Type.String({ minLength: 1, maxLength: 64, description: "Meta phone number id" });

const InjectedError = Type.Object(
  {
    code: Type.Integer({ description: "Meta error code, e.g. 131026, 130429, 131056, 131047" }),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
    title: Type.Optional(Type.String({ maxLength: 1000 })),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    error_subcode: Type.Optional(Type.Integer()),
    error_data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const CreateFailureBody = Type.Object(
  {
    phone_number_id: PhoneNumberId,
    operation: Type.Enum(FAILURE_OPERATIONS, {
      description:
        "send: POST /messages; template: template creation; media: media upload; number: GET /{phone_number_id}",
    }),
    error: InjectedError,
    http_status: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
    remaining: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 1 })),
    mode: Type.Optional(Type.Enum(FAILURE_MODES, { default: "sync" })),
  },
  { additionalProperties: false },
);

export const SandboxFailure = Type.Object({
  id: Uuid,
  phone_number_id: Type.String(),
  operation: Type.String(),
  mode: Type.Enum(FAILURE_MODES),
  remaining: Type.Integer(),
  http_status: Type.Integer(),
  error: Type.Record(Type.String(), Type.Unknown()),
  created_at: Timestamp,
});

export const ClearFailuresQuery = Type.Object({ phone_number_id: PhoneNumberId });

export const ListSendsQuery = Type.Object({
  phone_number_id: PhoneNumberId,
  recipient: Type.Optional(Type.String({ maxLength: 64 })),
  ...OffsetQuery,
});

export const SandboxSend = Type.Object({
  id: Uuid,
  phone_number_id: Type.String(),
  wamid: Type.String(),
  recipient: Type.String(),
  type: Type.String(),
  body: Type.Record(Type.String(), Type.Unknown()),
  created_at: Timestamp,
});

export const InboundBody = Type.Object(
  {
    phone_number_id: PhoneNumberId,
    from: Type.Optional(Type.String({ maxLength: 32, description: "Sender's phone number" })),
    profile_name: Type.Optional(Type.String({ maxLength: 256 })),
    text: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, description: "Shortcut for a text message" }),
    ),
    message: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "A Meta message object (type and its object)",
      }),
    ),
    value: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "Any webhook `value` (statuses, errors…), posted as is with the number's metadata",
      }),
    ),
    field: Type.Optional(
      Type.String({ maxLength: 64, description: "The change's field (default messages)" }),
    ),
  },
  { additionalProperties: false },
);

export const InboundResult = Type.Object({
  receiver_status: Type.Integer({ description: "HTTP status Parley's webhook receiver answered" }),
  wamid: Type.Optional(Type.String()),
  from: Type.Optional(Type.String()),
  phone_number_id: Type.Optional(Type.String()),
});

export type CreateFailureInput = Static<typeof CreateFailureBody>;
export type ListSendsFilters = Static<typeof ListSendsQuery>;
export type InboundInput = Static<typeof InboundBody>;
