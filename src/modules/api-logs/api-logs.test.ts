import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { insertSandboxNumber } from "../../../test/support/fixtures.ts";
import { purgeApiLogs } from "./service.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;

interface Log {
  id: string;
  endpoint: string;
  http_method: string;
  response_status: number;
  response_time_ms: number;
  ip_address: string | null;
  error_message: string | null;
  created_at: string;
  api_key_id: string | null;
  api_key_name: string | null;
}

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  b = await t.createProject("B");
});
after(() => t.close());

const logs = async (p: TestProject, query = "") => {
  const response = await t.api(p, { method: "GET", url: `/platform/v1/api_logs${query}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as { data: Log[]; paging: { next: string | null; previous: string | null } };
};

/** Polls until the entries written off the request path show up. */
async function waitForLogs(p: TestProject, query: string, predicate: (data: Log[]) => boolean) {
  for (let i = 0; i < 100; i++) {
    const { data } = await logs(p, query);
    if (predicate(data)) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`api logs never matched for ${query}`);
}

describe("api logs", () => {
  it("records Platform API and Meta proxy requests with key, status, time and error", async () => {
    const [key] = await t.ctx.db.query<{ id: string; name: string }>(
      sql`SELECT id, name FROM api_keys WHERE project_id = ${a.projectId}`,
    );
    const ok = await t.api(a, { method: "GET", url: "/platform/v1/customers?name_contains=secret-ish" });
    assert.equal(ok.statusCode, 200);
    const bad = await t.api(a, { method: "POST", url: "/platform/v1/customers", payload: { customer: {} } });
    assert.equal(bad.statusCode, 422);
    const meta = await t.api(a, { method: "GET", url: "/meta/whatsapp/v24.0/999/messages" });
    assert.ok(meta.statusCode >= 400);
    // Refused keys belong to no project and are not logged.
    await t.request({ method: "GET", url: "/platform/v1/customers", headers: { "x-api-key": "prk_nope" } });

    const data = await waitForLogs(a, "?endpoint=customers", (d) => d.length >= 2);
    const get = data.find((l) => l.http_method === "GET")!;
    assert.equal(get.endpoint, "/platform/v1/customers", "no query string in the log");
    assert.equal(get.response_status, 200);
    assert.equal(typeof get.response_time_ms, "number");
    assert.ok(get.response_time_ms >= 0);
    assert.equal(get.error_message, null);
    assert.equal(get.api_key_id, key!.id);
    assert.equal(get.api_key_name, key!.name);
    assert.equal(get.ip_address, "127.0.0.1");
    const post = data.find((l) => l.http_method === "POST")!;
    assert.equal(post.response_status, 422);
    assert.match(post.error_message!, /customer\.name is required/);

    const proxied = await waitForLogs(a, "?endpoint=/META/whatsapp", (d) => d.length === 1);
    assert.equal(proxied[0]!.endpoint, "/meta/whatsapp/v24.0/999/messages");
    assert.equal(proxied[0]!.response_status, meta.statusCode);
    assert.ok(proxied[0]!.error_message, "Meta's error message is kept");

    // Another project sees none of it.
    const other = await logs(b);
    assert.ok(other.data.every((l) => l.endpoint === "/platform/v1/api_logs"));
  });

  it("filters by status, errors and period, and pages with cursors", async () => {
    const p = await t.createProject("C");
    const number = await insertSandboxNumber(t, p.projectId);
    for (let i = 0; i < 3; i++) await t.api(p, { method: "GET", url: "/platform/v1/whatsapp/phone_numbers" });
    await t.api(p, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${number.phone_number_id}` });
    await t.api(p, { method: "GET", url: "/platform/v1/whatsapp/phone_numbers/000" });
    // An old entry: outside the default 24 h window, inside 7 days.
    await t.ctx.db.query(sql`
      INSERT INTO api_logs (project_id, endpoint, http_method, response_status, response_time_ms, created_at)
      VALUES (${p.projectId}, '/platform/v1/old', 'GET', 500, 3.5, clock_timestamp() - interval '3 days')`);

    await waitForLogs(p, "?endpoint=phone_numbers", (d) => d.length === 5);
    const notFound = await logs(p, "?status_code=404");
    assert.deepEqual(
      notFound.data.map((l) => l.endpoint),
      ["/platform/v1/whatsapp/phone_numbers/000"],
    );
    assert.equal(notFound.data[0]!.error_message, "Phone number not found");
    const errors = await logs(p, "?errors_only=true");
    assert.equal(errors.data.length, 1);
    assert.equal((await logs(p, "?errors_only=true&period=7d")).data.length, 2);
    assert.equal((await logs(p, "?endpoint=/old")).data.length, 0);
    assert.equal((await logs(p, "?endpoint=/old&period=30d")).data[0]!.response_time_ms, 3.5);

    const page1 = await logs(p, "?endpoint=phone_numbers&limit=2");
    assert.equal(page1.data.length, 2);
    assert.ok(page1.paging.next);
    const page2 = await logs(p, `?endpoint=phone_numbers&limit=2&after=${page1.paging.next}`);
    const page3 = await logs(p, `?endpoint=phone_numbers&limit=2&after=${page2.paging.next}`);
    const ids = [...page1.data, ...page2.data, ...page3.data].map((l) => l.id);
    assert.equal(new Set(ids).size, 5);
    assert.equal(page3.paging.next, null);
    const back = await logs(p, `?endpoint=phone_numbers&limit=2&before=${page2.paging.previous}`);
    assert.deepEqual(
      back.data.map((l) => l.id),
      page1.data.map((l) => l.id),
    );
    const created = [...page1.data, ...page2.data, ...page3.data].map((l) => l.created_at);
    assert.deepEqual(created, [...created].sort().reverse(), "newest first");

    for (const query of ["?period=1y", "?limit=0", "?status_code=abc", "?after=bogus"]) {
      const response = await t.api(p, { method: "GET", url: `/platform/v1/api_logs${query}` });
      assert.equal(response.statusCode, 422, query);
    }
  });

  it("purges entries older than the retention period", async () => {
    const p = await t.createProject("D");
    await t.ctx.db.query(sql`
      INSERT INTO api_logs (project_id, endpoint, http_method, response_status, response_time_ms, created_at)
      VALUES (${p.projectId}, '/ancient', 'GET', 200, 1, clock_timestamp() - interval '31 days'),
             (${p.projectId}, '/recent', 'GET', 200, 1, clock_timestamp() - interval '29 days')`);
    assert.ok((await purgeApiLogs(t.ctx)) >= 1);
    const left = await t.ctx.db.query<{ endpoint: string }>(
      sql`SELECT endpoint FROM api_logs WHERE project_id = ${p.projectId}`,
    );
    assert.deepEqual(
      left.map((r) => r.endpoint),
      ["/recent"],
    );
  });
});

describe("api logs on shutdown", () => {
  it("writes every buffered entry when the server closes", async () => {
    const s = await startTestApp();
    const p = await s.createProject();
    for (let i = 0; i < 20; i++) await s.api(p, { method: "GET", url: "/platform/v1/customers" });
    await s.app.close();
    const [row] = await s.ctx.db.query<{ count: number }>(
      sql`SELECT count(*) AS count FROM api_logs WHERE project_id = ${p.projectId}`,
    );
    assert.equal(row!.count, 20);
    await s.close();
  });
});
