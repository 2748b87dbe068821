import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { openTestDatabase } from "../../test/support/database.ts";
import type { Database } from "../db/database.ts";
import { HttpError } from "./errors.ts";
import { type CursorParams, cursorPage, cursorQuery, encodeCursor, offsetPage } from "./pagination.ts";

let db: Database;
interface Item {
  id: string;
  created_at: string;
}

before(async () => {
  db = await openTestDatabase();
  await db.exec(
    "CREATE TABLE items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), created_at timestamptz NOT NULL)",
  );
  // 25 rows; groups of three share a timestamp, so the id tie-breaker matters.
  for (let i = 0; i < 25; i++) {
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 3))).toISOString();
    await db.query(sql`INSERT INTO items (created_at) VALUES (${at})`);
  }
});
after(() => db.close());

const column = { sql: sql`created_at`, idSql: sql`id`, name: "created_at" };

async function fetchPage(params: CursorParams) {
  const q = cursorQuery(params, column);
  const rows = await db.query<Item>(
    sql`SELECT id, created_at FROM items WHERE ${q.where} ${q.orderBy} ${q.limit}`,
  );
  return cursorPage(rows, params, q.direction, (row) => ({
    column: "created_at",
    value: row.created_at,
    id: row.id,
  }));
}

describe("cursor paging", () => {
  it("walks every row newest first with after, and back with before, without gaps or repeats", async () => {
    const all = await db.query<Item>(sql`SELECT id, created_at FROM items ORDER BY created_at DESC, id DESC`);
    const seen: string[] = [];
    let page = await fetchPage({ limit: 7 });
    assert.equal(page.paging.previous, null, "the first page has no previous page");
    const pages = [page];
    seen.push(...page.data.map((r) => r.id));
    while (page.paging.next) {
      assert.equal(page.paging.next, page.paging.cursors.after, "next is the after cursor");
      page = await fetchPage({ limit: 7, after: page.paging.next });
      pages.push(page);
      seen.push(...page.data.map((r) => r.id));
    }
    assert.deepEqual(
      seen,
      all.map((r) => r.id),
    );
    assert.equal(pages.length, 4);
    assert.equal(page.data.length, 4);

    // From the last page, `previous` leads back to the third page exactly.
    assert.ok(page.paging.previous);
    const back = await fetchPage({ limit: 7, before: page.paging.previous });
    assert.deepEqual(
      back.data.map((r) => r.id),
      pages[2]!.data.map((r) => r.id),
    );
    assert.ok(back.paging.next, "a page reached backwards still has a next page");
  });

  it("uses Kapso's cursor layout: Base64 JSON of values and columns", () => {
    const cursor = encodeCursor(
      "last_active_at",
      "2026-05-15T13:05:00.000000Z",
      "c63ced48-1283-4d55-8c8d-930f525aa0e5",
    );
    assert.deepEqual(JSON.parse(Buffer.from(cursor, "base64").toString()), {
      values: ["2026-05-15T13:05:00.000000Z", "c63ced48-1283-4d55-8c8d-930f525aa0e5"],
      columns: ["last_active_at", "id"],
    });
  });

  it("refuses malformed cursors with 422, never a database error", async () => {
    const bad = [
      "%%%",
      Buffer.from("{}").toString("base64"),
      Buffer.from(JSON.stringify({ values: ["x", "y"], columns: ["created_at", "id"] })).toString("base64"),
      encodeCursor("created_at", "2026-01-01T00:00:00Z", "not-a-uuid"),
      encodeCursor("updated_at", "2026-01-01T00:00:00Z", "c63ced48-1283-4d55-8c8d-930f525aa0e5"),
    ];
    for (const cursor of bad) {
      await assert.rejects(fetchPage({ limit: 5, after: cursor }), (err: unknown) => {
        return (
          err instanceof HttpError &&
          err.statusCode === 422 &&
          /after is not a valid cursor/.test(err.message)
        );
      });
    }
    await assert.rejects(fetchPage({ limit: 5, after: "a", before: "b" }), /cannot be combined/);
  });
});

describe("offset paging", () => {
  it("computes meta, with zero pages for an empty list", () => {
    assert.deepEqual(offsetPage([], 0, { page: 1, perPage: 20 }).meta, {
      page: 1,
      per_page: 20,
      total_pages: 0,
      total_count: 0,
    });
    assert.deepEqual(offsetPage([1], 41, { page: 3, perPage: 20 }).meta, {
      page: 3,
      per_page: 20,
      total_pages: 3,
      total_count: 41,
    });
  });
});
