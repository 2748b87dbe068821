import type { FastifyReply, FastifyRequest } from "fastify";
import sql, { join, type Sql } from "sql-template-tag";
import { isUuid } from "../lib/ids.ts";
import { HttpError } from "./errors.ts";

// ---------------------------------------------------------------------------------------------
// Offset paging: `page` / `per_page` → `meta` + X-Total, X-Total-Pages, X-Per-Page, X-Page, Link.
// ---------------------------------------------------------------------------------------------

export interface OffsetParams {
  page: number;
  perPage: number;
}

export interface OffsetPage<T> {
  data: T[];
  meta: { page: number; per_page: number; total_pages: number; total_count: number };
}

export function offsetParams(query: { page?: number; per_page?: number }, defaultPerPage = 20): OffsetParams {
  return { page: query.page ?? 1, perPage: query.per_page ?? defaultPerPage };
}

/** `LIMIT … OFFSET …` for a page. */
export function limitOffset({ page, perPage }: OffsetParams): Sql {
  return sql`LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`;
}

export function offsetPage<T>(data: T[], totalCount: number, { page, perPage }: OffsetParams): OffsetPage<T> {
  return {
    data,
    meta: { page, per_page: perPage, total_pages: Math.ceil(totalCount / perPage), total_count: totalCount },
  };
}

/**
 * Sends an offset page with its headers. `Link` follows RFC 8288 (first, prev, next, last) and
 * keeps the request's own filters.
 */
export function sendOffsetPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: OffsetPage<T>,
  options: { link?: boolean } = {},
): OffsetPage<T> {
  const { meta } = page;
  reply.header("X-Total", String(meta.total_count));
  reply.header("X-Total-Pages", String(meta.total_pages));
  reply.header("X-Per-Page", String(meta.per_page));
  reply.header("X-Page", String(meta.page));
  if (options.link !== false) {
    const url = new URL(request.url, "http://placeholder");
    const at = (n: number) => {
      url.searchParams.set("page", String(n));
      url.searchParams.set("per_page", String(meta.per_page));
      return `<${url.pathname}${url.search}>`;
    };
    const last = Math.max(meta.total_pages, 1);
    const links = [`${at(1)}; rel="first"`];
    if (meta.page > 1) links.push(`${at(Math.min(meta.page - 1, last))}; rel="prev"`);
    if (meta.page < meta.total_pages) links.push(`${at(meta.page + 1)}; rel="next"`);
    links.push(`${at(last)}; rel="last"`);
    reply.header("Link", links.join(", "));
  }
  return page;
}

// ---------------------------------------------------------------------------------------------
// Cursor paging: `limit` / `before` / `after` → `paging` with Base64 cursors of the form
// {"values":[<sort value>,<id>],"columns":[<sort column>,"id"]}, newest first.
// ---------------------------------------------------------------------------------------------

export interface CursorParams {
  limit: number;
  before?: string;
  after?: string;
}

export interface Paging {
  cursors: { before?: string; after?: string };
  next: string | null;
  previous: string | null;
}

interface Cursor {
  value: string;
  id: string;
}

export function encodeCursor(column: string, value: string, id: string): string {
  return Buffer.from(JSON.stringify({ values: [value, id], columns: [column, "id"] })).toString("base64");
}

function decodeCursor(raw: string, column: string, name: "before" | "after"): Cursor {
  const bad = new HttpError(422, `${name} is not a valid cursor`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
  } catch {
    throw bad;
  }
  const cursor = parsed as { values?: unknown[]; columns?: unknown[] };
  if (
    !Array.isArray(cursor.values) ||
    cursor.values.length !== 2 ||
    !Array.isArray(cursor.columns) ||
    cursor.columns[0] !== column ||
    typeof cursor.values[0] !== "string" ||
    typeof cursor.values[1] !== "string" ||
    !isUuid(cursor.values[1]) ||
    Number.isNaN(Date.parse(cursor.values[0]))
  ) {
    throw bad;
  }
  return { value: cursor.values[0], id: cursor.values[1] };
}

/**
 * Builds the keyset clauses for a newest-first list ordered by (`column`, id) descending.
 * `column` is a trusted SQL column expression of type timestamptz; `name` is its cursor label.
 */
export function cursorQuery(params: CursorParams, column: { sql: Sql; name: string; idSql: Sql }) {
  if (params.before && params.after) throw new HttpError(422, "before and after cannot be combined");
  const { sql: col, idSql } = column;
  if (params.after) {
    const c = decodeCursor(params.after, column.name, "after");
    return {
      where: sql`(${col}, ${idSql}) < (${c.value}::timestamptz, ${c.id}::uuid)`,
      orderBy: sql`ORDER BY ${col} DESC, ${idSql} DESC`,
      limit: sql`LIMIT ${params.limit + 1}`,
      direction: "after" as const,
    };
  }
  if (params.before) {
    const c = decodeCursor(params.before, column.name, "before");
    return {
      where: sql`(${col}, ${idSql}) > (${c.value}::timestamptz, ${c.id}::uuid)`,
      orderBy: sql`ORDER BY ${col} ASC, ${idSql} ASC`,
      limit: sql`LIMIT ${params.limit + 1}`,
      direction: "before" as const,
    };
  }
  return {
    where: sql`TRUE`,
    orderBy: sql`ORDER BY ${col} DESC, ${idSql} DESC`,
    limit: sql`LIMIT ${params.limit + 1}`,
    direction: "first" as const,
  };
}

/**
 * Turns the `limit + 1` rows fetched with `cursorQuery` into a page: newest first, with
 * `next` / `previous` set only when a page exists in that direction.
 */
export function cursorPage<T>(
  rows: T[],
  params: CursorParams,
  direction: "first" | "after" | "before",
  cursorOf: (row: T) => { column: string; value: string; id: string },
): { data: T[]; paging: Paging } {
  const hasMore = rows.length > params.limit;
  let data = rows.slice(0, params.limit);
  if (direction === "before") data = data.reverse();
  const encode = (row: T | undefined) => {
    if (!row) return undefined;
    const c = cursorOf(row);
    return encodeCursor(c.column, c.value, c.id);
  };
  const before = encode(data[0]);
  const after = encode(data[data.length - 1]);
  const olderExists = direction === "before" ? true : hasMore;
  const newerExists = direction === "after" ? true : direction === "before" ? hasMore : false;
  return {
    data,
    paging: {
      cursors: { before, after },
      next: olderExists && after ? after : null,
      previous: newerExists && before ? before : null,
    },
  };
}

/** Joins optional WHERE conditions with AND (`TRUE` when there are none). */
export function whereAll(conditions: Sql[]): Sql {
  return conditions.length ? join(conditions, " AND ") : sql`TRUE`;
}
