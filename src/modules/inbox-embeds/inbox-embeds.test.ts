import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { insertSandboxNumber } from "../../../test/support/fixtures.ts";
import { addUser } from "../users/service.ts";

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const seedSchema = JSON.parse(fs.readFileSync("test/fixtures/seed-inbox-embed.schema.json", "utf8"));
const ajv = new Ajv({ strict: false });
addFormats(ajv);
const validateSeedInboxEmbed = ajv.compile(seedSchema);

let CUSTOMER_ID: string;
let USER_ID: string;

let t: TestApp;
let a: TestProject;
let b: TestProject;

const create = (project: TestProject, inbox_embed: unknown) =>
  t.api(project, { method: "POST", url: "/platform/v1/inbox_embeds", payload: { inbox_embed } });
const get = (project: TestProject, id: string) =>
  t.api(project, { method: "GET", url: `/platform/v1/inbox_embeds/${id}` });
const patch = (project: TestProject, id: string, inbox_embed: unknown) =>
  t.api(project, { method: "PATCH", url: `/platform/v1/inbox_embeds/${id}`, payload: { inbox_embed } });
const revoke = (project: TestProject, id: string) =>
  t.api(project, { method: "DELETE", url: `/platform/v1/inbox_embeds/${id}` });
const list = (project: TestProject, query = "") =>
  t.api(project, { method: "GET", url: `/platform/v1/inbox_embeds${query}` });

async function createOk(project: TestProject, body: Record<string, unknown>) {
  const response = await create(project, body);
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data;
}

function assertError(response: { statusCode: number; json(): unknown }, status: number, pattern: RegExp) {
  assert.equal(response.statusCode, status);
  const body = response.json() as { error: string };
  assert.equal(typeof body.error, "string");
  assert.match(body.error, pattern);
}

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  b = await t.createProject("B");
  ({ customerId: CUSTOMER_ID, userId: USER_ID } = await scopeTargets(a, ["1234567890", "555000"]));
});

/** A customer, a member and numbers in `project`, so embeds can be scoped and assigned to them. */
async function scopeTargets(project: TestProject, phoneNumberIds: string[]) {
  const customer = await t.api(project, {
    method: "POST",
    url: "/platform/v1/customers",
    payload: { customer: { name: "Acme" } },
  });
  const { member } = await addUser(t.ctx, project.projectId, {
    email: "agent@example.com",
    name: "Agent",
    role: "member",
  });
  for (const id of phoneNumberIds) await insertSandboxNumber(t, project.projectId, { phone_number_id: id });
  return { customerId: customer.json().data.id as string, userId: member.user_id };
}
after(() => t.close());

describe("authentication", () => {
  it("answers 401 without a key, with a wrong key, and with a revoked key", async () => {
    const missing = await t.request({ method: "GET", url: "/platform/v1/inbox_embeds" });
    assert.equal(missing.statusCode, 401);
    assert.deepEqual(missing.json(), { error: "Missing or invalid API key" });

    const wrong = await t.request({
      method: "GET",
      url: "/platform/v1/inbox_embeds",
      headers: { "x-api-key": `${a.apiKey.slice(0, -2)}xx` },
    });
    assert.deepEqual(wrong.json(), { error: "Missing or invalid API key" });
    assert.equal(wrong.statusCode, 401);

    const c = await t.createProject("C");
    await t.ctx.db.query(sql`UPDATE api_keys SET revoked_at = now() WHERE project_id = ${c.projectId}`);
    assert.equal((await list(c)).statusCode, 401);
  });

  it("checks the key before reading a malformed body", async () => {
    const response = await t.request({
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    assert.equal(response.statusCode, 401);
  });
});

describe("POST /inbox_embeds", () => {
  it("creates a project embed with the documented defaults, returning token and embed_url once", async () => {
    const embed = await createOk(a, { scope_type: "project" });
    assert.equal(embed.scope_type, "project");
    assert.equal(embed.scope_id, null);
    assert.equal(embed.status, "active");
    assert.equal(embed.default_mode, "system");
    assert.equal(embed.language, "en");
    assert.deepEqual(embed.allowed_origins, []);
    assert.equal(embed.expires_at, null);
    assert.equal(embed.last_used_at, null);
    assert.equal(embed.name, null);
    assert.ok(embed.token.length >= 40, "token is long and random");
    assert.equal(embed.embed_url, `http://parley.test/embed/${embed.token}`);
    const { token: _token, embed_url: _url, ...rest } = embed;
    assert.ok(validateSeedInboxEmbed(rest), JSON.stringify(validateSeedInboxEmbed.errors));
  });

  it("stores only a hash of the token", async () => {
    const embed = await createOk(a, { scope_type: "project" });
    const rows = await t.ctx.db.query<{ token_hash: string }>(
      sql`SELECT token_hash FROM inbox_embeds WHERE id = ${embed.id}`,
    );
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]!.token_hash, embed.token);
    assert.ok(!rows[0]!.token_hash.includes(embed.token));
    assert.match(rows[0]!.token_hash, /^[0-9a-f]{64}$/);
  });

  it("creates customer and phone_number embeds with every optional field", async () => {
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const customer = await createOk(a, {
      name: "Customer inbox",
      scope_type: "customer",
      scope_id: CUSTOMER_ID,
      assigned_user_id: USER_ID,
      allowed_origins: ["https://App.Example.com/", "https://*.example.com", "http://localhost:3000"],
      default_mode: "dark",
      language: "es",
      expires_at: expires,
    });
    assert.equal(customer.scope_id, CUSTOMER_ID);
    assert.equal(customer.assigned_user_id, USER_ID);
    assert.deepEqual(customer.allowed_origins, [
      "https://app.example.com",
      "https://*.example.com",
      "http://localhost:3000",
    ]);
    assert.equal(customer.default_mode, "dark");
    assert.equal(customer.language, "es");
    assert.equal(Date.parse(customer.expires_at), Date.parse(expires));

    const phone = await createOk(a, { scope_type: "phone_number", scope_id: "1234567890" });
    assert.equal(phone.scope_type, "phone_number");
    assert.equal(phone.scope_id, "1234567890");
  });

  it("treats a blank scope_id as absent for project scope", async () => {
    const embed = await createOk(a, { scope_type: "project", scope_id: "" });
    assert.equal(embed.scope_id, null);
  });

  const invalidBodies: [string, unknown, number, RegExp][] = [
    ["missing envelope", undefined, 422, /inbox_embed is required/],
    ["missing scope_type", {}, 422, /inbox_embed\.scope_type is required/],
    [
      "unknown scope_type",
      { scope_type: "team" },
      422,
      /scope_type must be one of: project, customer, phone_number/,
    ],
    ["scope_id on project", { scope_type: "project", scope_id: "abc" }, 422, /scope_id must be blank/],
    [
      "customer without scope_id",
      { scope_type: "customer" },
      422,
      /scope_id is required when scope_type is customer/,
    ],
    [
      "customer with a non-uuid scope_id",
      { scope_type: "customer", scope_id: "cus_1" },
      422,
      /scope_id must be a customer UUID/,
    ],
    [
      "phone_number without scope_id",
      { scope_type: "phone_number", scope_id: null },
      422,
      /scope_id is required/,
    ],
    [
      "bad default_mode",
      { scope_type: "project", default_mode: "dim" },
      422,
      /default_mode must be one of: system, light, dark/,
    ],
    ["bad language", { scope_type: "project", language: "fr" }, 422, /language must be one of: en, es/],
    ["name of the wrong type", { scope_type: "project", name: 5 }, 422, /inbox_embed\.name must be/],
    [
      "bad assigned_user_id",
      { scope_type: "project", assigned_user_id: "bob" },
      422,
      /assigned_user_id must be a valid uuid/,
    ],
    [
      "malformed expires_at",
      { scope_type: "project", expires_at: "tomorrow" },
      422,
      /expires_at must be a valid date-time/,
    ],
    [
      "expires_at in the past",
      { scope_type: "project", expires_at: "2020-01-01T00:00:00Z" },
      422,
      /expires_at must be in the future/,
    ],
    [
      "allowed_origins not an array",
      { scope_type: "project", allowed_origins: "https://a.com" },
      422,
      /allowed_origins must be an array/,
    ],
    [
      "origin with a path",
      { scope_type: "project", allowed_origins: ["https://a.com/app"] },
      422,
      /allowed_origins\[0\] must be an origin only/,
    ],
    [
      "origin with another scheme",
      { scope_type: "project", allowed_origins: ["ftp://a.com"] },
      422,
      /allowed_origins\[0\] must use http or https/,
    ],
    [
      "origin that is not a URL",
      { scope_type: "project", allowed_origins: ["https://ok.com", "not an origin"] },
      422,
      /allowed_origins\[1\] is not an origin/,
    ],
    [
      "too broad a wildcard",
      { scope_type: "project", allowed_origins: ["https://*.com"] },
      422,
      /wildcard must leave at least two labels/,
    ],
  ];
  for (const [label, body, status, pattern] of invalidBodies) {
    it(`refuses ${label}`, async () => {
      const before = (await list(a)).json().meta.total_count;
      const response = await t.api(a, {
        method: "POST",
        url: "/platform/v1/inbox_embeds",
        payload: body === undefined ? {} : { inbox_embed: body },
      });
      assertError(response, status, pattern);
      assert.equal((await list(a)).json().meta.total_count, before, "nothing was stored");
    });
  }

  it("answers 400 to malformed JSON", async () => {
    const response = await t.api(a, {
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      headers: { "content-type": "application/json" },
      payload: '{"inbox_embed": {',
    });
    assertError(response, 400, /not valid JSON/);
  });
});

describe("GET /inbox_embeds/{id}", () => {
  it("returns the embed without token or embed_url, valid against the seed's InboxEmbed schema", async () => {
    const created = await createOk(a, { scope_type: "phone_number", scope_id: "555000", name: "Support" });
    const response = await get(a, created.id);
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.deepEqual(Object.keys(body), ["data"]);
    assert.equal(body.data.token, undefined);
    assert.equal(body.data.embed_url, undefined);
    assert.equal(body.data.name, "Support");
    assert.ok(validateSeedInboxEmbed(body.data), JSON.stringify(validateSeedInboxEmbed.errors));
    assert.ok(!response.body.includes(created.token), "the token never appears again");
  });

  it("answers 404 for an unknown id, a malformed id, and another project's embed", async () => {
    const created = await createOk(a, { scope_type: "project" });
    assertError(await get(a, "00000000-0000-4000-8000-000000000000"), 404, /^Inbox embed not found$/);
    assertError(await get(a, "not-a-uuid"), 404, /^Inbox embed not found$/);
    assertError(await get(b, created.id), 404, /^Inbox embed not found$/);
  });
});

describe("GET /inbox_embeds", () => {
  it("lists newest first with offset paging, meta and headers", async () => {
    const p = await t.createProject("paging");
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createOk(p, { scope_type: "project", name: `e${i}` })).id);
    const first = await list(p, "?per_page=2");
    assert.equal(first.statusCode, 200);
    const body = first.json();
    assert.deepEqual(
      body.data.map((e: { id: string }) => e.id),
      [ids[4], ids[3]],
    );
    assert.deepEqual(body.meta, { page: 1, per_page: 2, total_pages: 3, total_count: 5 });
    assert.equal(first.headers["x-total"], "5");
    assert.equal(first.headers["x-total-pages"], "3");
    assert.equal(first.headers["x-per-page"], "2");
    assert.equal(first.headers["x-page"], "1");
    const link = String(first.headers.link);
    assert.match(link, /<\/platform\/v1\/inbox_embeds\?per_page=2&page=2>; rel="next"/);
    assert.match(link, /page=3>; rel="last"/);
    assert.doesNotMatch(link, /rel="prev"/);

    const last = (await list(p, "?per_page=2&page=3")).json();
    assert.deepEqual(
      last.data.map((e: { id: string }) => e.id),
      [ids[0]],
    );
    const beyond = (await list(p, "?per_page=2&page=9")).json();
    assert.deepEqual(beyond.data, []);
    assert.equal(beyond.meta.total_count, 5);
    for (const item of body.data) {
      assert.equal(item.token, undefined);
      assert.ok(validateSeedInboxEmbed(item));
    }
  });

  it("filters by status, scope_type, scope_id and assigned_user_id", async () => {
    const p = await t.createProject("filters");
    const { customerId } = await scopeTargets(p, ["42"]);
    const proj = await createOk(p, { scope_type: "project" });
    const cust = await createOk(p, {
      scope_type: "customer",
      scope_id: customerId,
      assigned_user_id: USER_ID,
    });
    const phone = await createOk(p, { scope_type: "phone_number", scope_id: "42" });
    await revoke(p, proj.id);
    const ids = async (q: string) => (await list(p, q)).json().data.map((e: { id: string }) => e.id);
    assert.deepEqual(await ids("?status=revoked"), [proj.id]);
    assert.deepEqual(await ids("?status=active"), [phone.id, cust.id]);
    assert.deepEqual(await ids("?scope_type=customer"), [cust.id]);
    assert.deepEqual(await ids("?scope_id=42"), [phone.id]);
    assert.deepEqual(await ids(`?assigned_user_id=${USER_ID}`), [cust.id]);
    assert.deepEqual(await ids(`?scope_type=phone_number&scope_id=${customerId}`), []);
  });

  it("validates its query parameters", async () => {
    assertError(await list(a, "?status=gone"), 422, /status must be one of: active, revoked/);
    assertError(await list(a, "?scope_type=x"), 422, /scope_type must be one of/);
    assertError(await list(a, "?assigned_user_id=x"), 422, /assigned_user_id must be a valid uuid/);
    assertError(await list(a, "?page=0"), 422, /page must be >= 1/);
    assertError(await list(a, "?per_page=101"), 422, /per_page must be <= 100/);
    assertError(await list(a, "?per_page=abc"), 422, /per_page must be an integer/);
  });

  it("never lists another project's embeds", async () => {
    const mine = await createOk(b, { scope_type: "project", name: "only B" });
    const aIds = (await list(a, "?per_page=100")).json().data.map((e: { id: string }) => e.id);
    assert.ok(!aIds.includes(mine.id));
  });
});

describe("PATCH /inbox_embeds/{id}", () => {
  it("changes only the mutable settings and bumps updated_at", async () => {
    const created = await createOk(a, { scope_type: "project", name: "old" });
    const response = await patch(a, created.id, {
      name: "new",
      allowed_origins: ["https://Portal.Example.org"],
      default_mode: "light",
      language: "es",
      assigned_user_id: USER_ID,
      expires_at: "2999-01-01T00:00:00Z",
    });
    assert.equal(response.statusCode, 200, response.body);
    const embed = response.json().data;
    assert.equal(embed.name, "new");
    assert.deepEqual(embed.allowed_origins, ["https://portal.example.org"]);
    assert.equal(embed.default_mode, "light");
    assert.equal(embed.language, "es");
    assert.equal(embed.assigned_user_id, USER_ID);
    assert.equal(embed.expires_at, "2999-01-01T00:00:00.000000Z");
    assert.equal(embed.token, undefined);
    assert.ok(Date.parse(embed.updated_at) >= Date.parse(created.updated_at));
    assert.ok(validateSeedInboxEmbed(embed));

    const cleared = (
      await patch(a, created.id, { name: null, assigned_user_id: null, expires_at: null })
    ).json().data;
    assert.equal(cleared.name, null);
    assert.equal(cleared.assigned_user_id, null);
    assert.equal(cleared.expires_at, null);
    assert.equal(cleared.language, "es", "fields not sent stay as they were");
  });

  it("refuses scope and status changes with 422, changing nothing", async () => {
    const created = await createOk(a, { scope_type: "project", name: "keep" });
    assertError(
      await patch(a, created.id, { scope_type: "customer", name: "x" }),
      422,
      /scope_type and scope_id cannot be changed/,
    );
    assertError(await patch(a, created.id, { scope_id: CUSTOMER_ID }), 422, /cannot be changed/);
    assertError(await patch(a, created.id, { status: "revoked" }), 422, /revoke an embed with DELETE/);
    assert.equal((await get(a, created.id)).json().data.name, "keep");
  });

  it("validates like create", async () => {
    const created = await createOk(a, { scope_type: "project" });
    assertError(await patch(a, created.id, { default_mode: "neon" }), 422, /default_mode must be one of/);
    assertError(
      await patch(a, created.id, { allowed_origins: ["https://x.com?a=1"] }),
      422,
      /allowed_origins\[0\]/,
    );
    assertError(
      await patch(a, created.id, { expires_at: "2001-01-01T00:00:00Z" }),
      422,
      /expires_at must be in the future/,
    );
    assertError(await patch(a, created.id, undefined), 422, /inbox_embed is required/);
  });

  it("answers 404 for another project's embed and leaves it untouched", async () => {
    const created = await createOk(a, { scope_type: "project", name: "A's" });
    assertError(await patch(b, created.id, { name: "stolen" }), 404, /Inbox embed not found/);
    assert.equal((await get(a, created.id)).json().data.name, "A's");
  });

  it("refuses to change a revoked embed", async () => {
    const created = await createOk(a, { scope_type: "project" });
    await revoke(a, created.id);
    assertError(await patch(a, created.id, { name: "again" }), 422, /revoked/);
  });
});

describe("DELETE /inbox_embeds/{id}", () => {
  it("revokes with 204 and keeps the record as revoked; a second revoke is harmless", async () => {
    const created = await createOk(a, { scope_type: "project" });
    const response = await revoke(a, created.id);
    assert.equal(response.statusCode, 204);
    assert.equal(response.body, "");
    const embed = (await get(a, created.id)).json().data;
    assert.equal(embed.status, "revoked");
    assert.ok(validateSeedInboxEmbed(embed));
    assert.equal((await revoke(a, created.id)).statusCode, 204);
  });

  it("answers 404 for another project's embed, which stays active", async () => {
    const created = await createOk(a, { scope_type: "project" });
    assertError(await revoke(b, created.id), 404, /Inbox embed not found/);
    assertError(await revoke(a, "nope"), 404, /Inbox embed not found/);
    assert.equal((await get(a, created.id)).json().data.status, "active");
  });
});

describe("embed scope and assignee against real records", () => {
  it("names the scope and the assignee from the current customer, number and member", async () => {
    const embed = await createOk(a, {
      scope_type: "customer",
      scope_id: CUSTOMER_ID,
      assigned_user_id: USER_ID,
    });
    assert.equal(embed.scope_name, "Acme");
    assert.equal(embed.assigned_user_name, "Agent");
    await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/customers/${CUSTOMER_ID}`,
      payload: { customer: { name: "Acme 2" } },
    });
    assert.equal((await get(a, embed.id)).json().data.scope_name, "Acme 2");
    const phone = await createOk(a, { scope_type: "phone_number", scope_id: "555000" });
    assert.equal(phone.scope_name, "Sandbox number");
  });

  it("refuses customers, numbers and users that are not the project's", async () => {
    const other = await scopeTargets(b, ["777000"]);
    assertError(
      await create(a, { scope_type: "customer", scope_id: other.customerId }),
      422,
      /scope_id must be a customer of this project/,
    );
    assertError(
      await create(a, { scope_type: "phone_number", scope_id: "777000" }),
      422,
      /scope_id must be the phone_number_id/,
    );
    assertError(
      await create(a, { scope_type: "phone_number", scope_id: "999" }),
      422,
      /scope_id must be the phone_number_id/,
    );
    const stranger = await addUser(t.ctx, b.projectId, {
      email: "only-b@example.com",
      name: "B only",
      role: "member",
    });
    assertError(
      await create(a, { scope_type: "project", assigned_user_id: stranger.member.user_id }),
      422,
      /assigned_user_id must be the user_id of a member/,
    );
    const embed = await createOk(a, { scope_type: "project" });
    assertError(
      await patch(a, embed.id, { assigned_user_id: stranger.member.user_id }),
      422,
      /assigned_user_id/,
    );
  });
});
