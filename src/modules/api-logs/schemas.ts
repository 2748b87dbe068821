import { type Static, Type } from "typebox";
import { CursorQuery, Nullable, Timestamp, Uuid } from "../../http/schemas.ts";

/** The `ExternalApiLog` schema of the Kapso Platform API. */
export const ExternalApiLog = Type.Object({
  id: Uuid,
  endpoint: Type.String({ description: "The API endpoint that was called (path, without host or query)" }),
  http_method: Type.String(),
  response_status: Type.Integer(),
  response_time_ms: Type.Number(),
  ip_address: Nullable(Type.String()),
  error_message: Nullable(Type.String()),
  created_at: Timestamp,
  api_key_id: Nullable(Uuid),
  api_key_name: Nullable(Type.String()),
});

export const ListApiLogsQuery = Type.Object({
  endpoint: Type.Optional(Type.String({ maxLength: 2048, description: "Partial match, ignoring case" })),
  status_code: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
  errors_only: Type.Optional(Type.Boolean({ default: false })),
  period: Type.Optional(Type.Enum(["24h", "7d", "30d"], { default: "24h" })),
  ...CursorQuery,
});

export type ListApiLogsFilters = Static<typeof ListApiLogsQuery>;
export type ApiLog = Static<typeof ExternalApiLog>;
