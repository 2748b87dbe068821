import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { type LoggedEvent, watchEvents } from "../../../test/support/event-log.ts";
import { insertSandboxNumber } from "../../../test/support/fixtures.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let eventsOfA: (type: string) => Promise<LoggedEvent[]>;

const url = (id = "") => `/platform/v1/customers${id ? `/${id}` : ""}`;
const create = (p: TestProject, customer: unknown) =>
  t.api(p, { method: "POST", url: url(), payload: { customer } });
const createOk = async (p: TestProject, customer: unknown) => {
  const response = await create(p, customer);
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data as {
    id: string;
    name: string;
    external_customer_id: string | null;
    created_at: string;
    updated_at: string;
  };
};

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  eventsOfA = await watchEvents(t, a.projectId);
  b = await t.createProject("B");
});
after(() => t.close());

describe("customers", () => {
  it("creates, gets, updates and lists customers in Kapso's shape", async () => {
    const c = await createOk(a, { name: "Acme Corp", external_customer_id: "cus_abc123" });
    assert.deepEqual(Object.keys(c).sort(), [
      "created_at",
      "external_customer_id",
      "id",
      "name",
      "updated_at",
    ]);
    const got = await t.api(a, { method: "GET", url: url(c.id) });
    assert.deepEqual(got.json().data, c);
    const patched = await t.api(a, {
      method: "PATCH",
      url: url(c.id),
      payload: { customer: { name: "Acme Corporation" } },
    });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().data.name, "Acme Corporation");
    assert.equal(patched.json().data.external_customer_id, "cus_abc123");
    assert.ok(patched.json().data.updated_at > c.updated_at);
    const cleared = await t.api(a, {
      method: "PATCH",
      url: url(c.id),
      payload: { customer: { external_customer_id: null } },
    });
    assert.equal(cleared.json().data.external_customer_id, null);
  });

  it("keeps external_customer_id unique within a project only", async () => {
    await createOk(a, { name: "One", external_customer_id: "dup" });
    const second = await create(a, { name: "Two", external_customer_id: "dup" });
    assert.equal(second.statusCode, 409);
    assert.match(second.json().error, /external_customer_id "dup" is already used/);
    await createOk(b, { name: "Elsewhere", external_customer_id: "dup" });
    const other = await createOk(a, { name: "Three" });
    const clash = await t.api(a, {
      method: "PATCH",
      url: url(other.id),
      payload: { customer: { external_customer_id: "dup" } },
    });
    assert.equal(clash.statusCode, 409);
  });

  it("filters and pages the list, newest first", async () => {
    const p = await t.createProject("paging");
    const made = [];
    for (const name of ["Alpha", "beta", "Gamma ALPHA", "100%_off"])
      made.push(await createOk(p, { name, external_customer_id: `x-${name}` }));
    const list = async (q: string) => t.api(p, { method: "GET", url: `${url()}${q}` });
    const all = await list("?per_page=2");
    assert.equal(all.headers["x-total"], "4");
    assert.equal(all.headers["x-total-pages"], "2");
    assert.deepEqual(
      all.json().data.map((c: { name: string }) => c.name),
      ["100%_off", "Gamma ALPHA"],
    );
    assert.deepEqual(all.json().meta, { page: 1, per_page: 2, total_pages: 2, total_count: 4 });
    assert.match(String(all.headers.link), /rel="next"/);
    const names = async (q: string) => (await list(q)).json().data.map((c: { name: string }) => c.name);
    assert.deepEqual(await names("?name_contains=alpha"), ["Gamma ALPHA", "Alpha"]);
    assert.deepEqual(await names("?name_contains=%25_"), ["100%_off"]);
    assert.deepEqual(await names("?external_customer_id=x-beta"), ["beta"]);
    assert.deepEqual(await names(`?created_after=${encodeURIComponent(made[2]!.created_at)}`), ["100%_off"]);
    assert.deepEqual(await names(`?created_before=${encodeURIComponent(made[1]!.created_at)}`), ["Alpha"]);
    assert.equal((await list("?created_after=yesterday")).statusCode, 422);
    assert.equal((await list("?per_page=0")).statusCode, 422);
  });

  it("validates bodies and names the field", async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /customer.name is required/],
      [{ name: "" }, /customer.name/],
      [{ name: "   " }, /customer.name must not be blank/],
      [{ name: 5 }, /customer.name must be a string/],
      [{ name: "x", external_customer_id: 7 }, /customer.external_customer_id/],
    ];
    for (const [body, pattern] of cases) {
      const response = await create(a, body);
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.match(response.json().error, pattern);
    }
    const missing = await t.api(a, { method: "POST", url: url(), payload: {} });
    assert.equal(missing.statusCode, 422);
  });

  it("answers 404 for unknown, malformed and other projects' customers", async () => {
    const c = await createOk(b, { name: "B's" });
    for (const id of [c.id, "00000000-0000-4000-8000-000000000000", "nope"]) {
      for (const method of ["GET", "PATCH", "DELETE"] as const) {
        const response = await t.api(a, {
          method,
          url: url(id),
          payload: method === "PATCH" ? { customer: { name: "x" } } : undefined,
        });
        assert.equal(response.statusCode, 404, `${method} ${id}`);
        assert.equal(response.json().error, "Customer not found");
      }
    }
    assert.equal((await t.api(b, { method: "GET", url: url(c.id) })).json().data.name, "B's");
  });

  it("deletes a customer with its numbers, embeds, setup links and open display-name requests, keeping history and leaving no orphans", async () => {
    const c = await createOk(a, { name: "Leaving" });
    const number = await insertSandboxNumber(t, a.projectId, { customer_id: c.id });
    const [contact] = await t.ctx.db.query<{ id: string }>(
      sql`INSERT INTO contacts (project_id, wa_id, customer_id) VALUES (${a.projectId}, '15550001111', ${c.id}) RETURNING id`,
    );
    const embed = (id: string | null, type: string) =>
      t.api(a, {
        method: "POST",
        url: "/platform/v1/inbox_embeds",
        payload: { inbox_embed: { scope_type: type, scope_id: id } },
      });
    const byCustomer = (await embed(c.id, "customer")).json().data.id;
    const byNumber = (await embed(number.phone_number_id, "phone_number")).json().data.id;
    const link = await t.api(a, {
      method: "POST",
      url: `${url(c.id)}/setup_links`,
      payload: { setup_link: {} },
    });
    assert.equal(link.statusCode, 201);
    const [request] = await t.ctx.db.query<{ id: string }>(sql`
      INSERT INTO display_name_requests
        (project_id, phone_number_ref, phone_number_id, requested_display_name, status)
      VALUES (${a.projectId}, ${number.id}, ${number.phone_number_id}, 'Leaving Soon', 'pending_review')
      RETURNING id`);
    const deleted = await t.api(a, { method: "DELETE", url: url(c.id) });
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, "");
    assert.equal((await t.api(a, { method: "GET", url: url(c.id) })).statusCode, 404);
    const [row] = await t.ctx.db.query<{ deleted_at: string | null; customer_id: string | null }>(
      sql`SELECT deleted_at, customer_id FROM phone_numbers WHERE id = ${number.id}`,
    );
    assert.ok(row!.deleted_at);
    const [detached] = await t.ctx.db.query<{ customer_id: string | null }>(
      sql`SELECT customer_id FROM contacts WHERE id = ${contact!.id}`,
    );
    assert.equal(detached!.customer_id, null);
    const links = await t.ctx.db.query(sql`SELECT id FROM setup_links WHERE customer_id = ${c.id}`);
    assert.equal(links.length, 0);
    const [cancelled] = await t.ctx.db.query<{ status: string }>(
      sql`SELECT status FROM display_name_requests WHERE id = ${request!.id}`,
    );
    assert.equal(cancelled!.status, "cancelled");
    for (const id of [byCustomer, byNumber]) {
      const e = await t.api(a, { method: "GET", url: `/platform/v1/inbox_embeds/${id}` });
      assert.equal(e.json().data.status, "revoked");
    }
    const events = await eventsOfA("whatsapp.phone_number.deleted");
    assert.deepEqual(
      events.map((e) => e.payload.phone_number_id),
      [number.phone_number_id],
    );
    assert.equal((await t.api(a, { method: "DELETE", url: url(c.id) })).statusCode, 404);
  });
});
