import { type TSchema, Type } from "typebox";

/** Schemas shared by every resource: errors, paging, timestamps. */

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const Timestamp = Type.String({ format: "date-time" });
export const NullableTimestamp = Nullable(Timestamp);
export const Uuid = Type.String({ format: "uuid" });

export const ErrorResponse = Type.Object({ error: Type.String() }, { additionalProperties: true });

/** The usual error responses of an authenticated operation, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries([401, ...statuses].map((status) => [status, ErrorResponse]));
}

export const PaginationMeta = Type.Object({
  page: Type.Integer({ minimum: 1 }),
  per_page: Type.Integer({ minimum: 1 }),
  total_pages: Type.Integer({ minimum: 0 }),
  total_count: Type.Integer({ minimum: 0 }),
});

export const Paging = Type.Object({
  cursors: Type.Object({ before: Type.Optional(Type.String()), after: Type.Optional(Type.String()) }),
  next: Nullable(Type.String()),
  previous: Nullable(Type.String()),
});

/** Offset paging: `page` from 1, `per_page` 1–100 (default 20). */
export const OffsetQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
};

/** Cursor paging: `limit` 1–100 (default 20), Base64 `before` / `after` cursors. */
export const CursorQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  before: Type.Optional(Type.String()),
  after: Type.Optional(Type.String()),
};

export const Envelope = <T extends TSchema>(data: T) => Type.Object({ data });
export const OffsetList = <T extends TSchema>(item: T) =>
  Type.Object({ data: Type.Array(item), meta: PaginationMeta });
export const CursorList = <T extends TSchema>(item: T) =>
  Type.Object({ data: Type.Array(item), paging: Paging });
