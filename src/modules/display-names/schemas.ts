import { type Static, Type } from "typebox";
import { Nullable, NullableTimestamp, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";
import { PhoneNumberParams } from "../phone-numbers/schemas.ts";

export const DISPLAY_NAME_STATUSES = [
  "submitted",
  "pending_review",
  "approved",
  "available_without_review",
  "deferred",
  "declined",
  "expired",
  "no_review",
  "failed",
  "applied",
  "cancelled",
] as const;

export type DisplayNameStatus = (typeof DISPLAY_NAME_STATUSES)[number];

/** The `WhatsappDisplayNameRequest` schema of the Kapso Platform API. */
export const DisplayNameRequest = Type.Object({
  id: Uuid,
  phone_number_id: Nullable(Type.String()),
  requested_display_name: Type.String(),
  previous_display_name: Nullable(Type.String()),
  status: Type.Enum(DISPLAY_NAME_STATUSES),
  submitted_at: Timestamp,
  reviewed_at: NullableTimestamp,
  applied_at: NullableTimestamp,
  meta_error_code: Nullable(Type.Integer()),
  meta_error_subcode: Nullable(Type.Integer()),
  meta_error_type: Nullable(Type.String()),
  meta_error_message: Nullable(Type.String()),
});

export { PhoneNumberParams };

export const DisplayNameRequestParams = Type.Object({
  phone_number_id: PhoneNumberParams.properties.phone_number_id,
  // Checked in the service, so that a malformed id answers "Display name request not found".
  request_id: Type.String({ maxLength: 64 }),
});

export const ListDisplayNameRequestsQuery = Type.Object({ ...OffsetQuery });

export const CreateDisplayNameRequestBody = Type.Object({
  display_name_request: Type.Object({
    new_display_name: Type.String({ minLength: 1, maxLength: 256 }),
  }),
});

export type CreateDisplayNameRequestInput = Static<
  typeof CreateDisplayNameRequestBody
>["display_name_request"];
