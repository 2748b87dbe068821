import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { insertSandboxNumber } from "../../../test/support/fixtures.ts";
import { findSetupLinkByToken, markSetupLinkUsed } from "./store.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let customerId: string;

const url = (c: string, id = "") => `/platform/v1/customers/${c}/setup_links${id ? `/${id}` : ""}`;
const create = (p: TestProject, c: string, setup_link: unknown) =>
  t.api(p, { method: "POST", url: url(c), payload: { setup_link } });
const patch = (p: TestProject, c: string, id: string, setup_link: unknown) =>
  t.api(p, { method: "PATCH", url: url(c, id), payload: { setup_link } });

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  b = await t.createProject("B");
  const c = await t.api(a, {
    method: "POST",
    url: "/platform/v1/customers",
    payload: { customer: { name: "Acme" } },
  });
  customerId = c.json().data.id;
});
after(() => t.close());

describe("setup links", () => {
  it("creates a link with the documented defaults, the token only once, and a 30-day expiry", async () => {
    const response = await create(a, customerId, {});
    assert.equal(response.statusCode, 201, response.body);
    const link = response.json().data;
    assert.equal(link.status, "active");
    assert.match(link.token, /^setup_/);
    assert.equal(link.url, `http://parley.test/setup/${link.token}`);
    assert.deepEqual(link.allowed_connection_types, ["coexistence", "dedicated"]);
    assert.equal(link.meta_billing_mode, "customer_managed");
    assert.deepEqual(link.phone_number_country_isos, ["US"]);
    assert.equal(link.provision_phone_number, false);
    assert.equal(link.whatsapp_setup_status, "pending");
    assert.equal(link.language, null);
    const days = (Date.parse(link.expires_at) - Date.parse(link.created_at)) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 0.01, String(days));
    const listed = await t.api(a, { method: "GET", url: url(customerId) });
    assert.equal(listed.json().data[0].token, undefined, "the token is never shown again");
    assert.equal(listed.json().data[0].url, link.url);
    const [row] = await t.ctx.db.query<{ token_hash: string }>(
      sql`SELECT token_hash FROM setup_links WHERE id = ${link.id}`,
    );
    assert.notEqual(row!.token_hash, link.token);
  });

  it("revokes the customer's other active links on create", async () => {
    const first = (await create(a, customerId, {})).json().data;
    const second = (
      await create(a, customerId, { language: "es", theme_config: { primary_color: "#10b981" } })
    ).json().data;
    const list = (await t.api(a, { method: "GET", url: `${url(customerId)}?status=active` })).json();
    assert.deepEqual(
      list.data.map((l: { id: string }) => l.id),
      [second.id],
    );
    const revoked = (await t.api(a, { method: "GET", url: `${url(customerId)}?status=revoked` })).json();
    assert.ok(revoked.data.some((l: { id: string }) => l.id === first.id));
    assert.deepEqual(second.theme_config, { primary_color: "#10b981" });
  });

  it("reports expired links as expired, never active, and can extend them", async () => {
    const link = (await create(a, customerId, {})).json().data;
    await t.ctx.db.query(
      sql`UPDATE setup_links SET expires_at = now() - interval '1 second' WHERE id = ${link.id}`,
    );
    const [listed] = (await t.api(a, { method: "GET", url: `${url(customerId)}?status=expired` })).json()
      .data;
    assert.equal(listed.id, link.id);
    assert.equal(listed.status, "expired");
    const extended = await patch(a, customerId, link.id, {
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(extended.json().data.status, "active");
  });

  it("updates settings and enforces the lifecycle rules", async () => {
    const link = (await create(a, customerId, { meta_billing_mode: "partner_managed" })).json().data;
    const themed = await patch(a, customerId, link.id, {
      theme_config: { text_color: "#0f172a" },
      language: "pt",
    });
    assert.equal(themed.statusCode, 200);
    assert.equal(themed.json().data.token, undefined);
    assert.equal(themed.json().data.language, "pt");
    const rules: [unknown, RegExp][] = [
      [{ status: "used" }, /cannot be set to used/],
      [{ meta_billing_mode: "customer_managed" }, /meta_billing_mode cannot be changed/],
      [{ theme_config: { primary_color: "green" } }, /primary_color/],
      [{ language: "fr" }, /language/],
      [{ allowed_connection_types: ["invalid"] }, /allowed_connection_types/],
      [{ success_redirect_url: "not a url" }, /success_redirect_url/],
      [{ allowed_origins: ["http://app.example.com"] }, /allowed_origins\[0\]/],
    ];
    for (const [body, pattern] of rules) {
      const response = await patch(a, customerId, link.id, body);
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.match(response.json().error, pattern);
    }
    assert.equal((await patch(a, customerId, link.id, { status: "revoked" })).json().data.status, "revoked");
    assert.equal((await patch(a, customerId, link.id, { status: "active" })).statusCode, 422);
  });

  it("checks reconnection links against the customer's production numbers", async () => {
    const refused = await create(a, customerId, { reconnect_phone_number: "+14155551234" });
    assert.equal(refused.statusCode, 422);
    assert.match(refused.json().error, /reconnect_phone_number must be a production number/);
    await insertSandboxNumber(t, a.projectId, {
      kind: "production",
      customer_id: customerId,
      display_phone_number_normalized: "14155551234",
      is_coexistence: true,
    });
    const link = await create(a, customerId, { reconnect_phone_number: "+1 415 555 1234" });
    assert.equal(link.statusCode, 201, link.body);
    assert.equal(link.json().data.reconnect_phone_number, "14155551234");
    assert.deepEqual(link.json().data.allowed_connection_types, ["coexistence"]);
    const wrongType = await create(a, customerId, {
      reconnect_phone_number: "14155551234",
      allowed_connection_types: ["dedicated"],
    });
    assert.equal(wrongType.statusCode, 422);
    const provisioning = await create(a, customerId, {
      reconnect_phone_number: "14155551234",
      provision_phone_number: true,
    });
    assert.match(provisioning.json().error, /provision_phone_number must be false/);
  });

  it("keeps links inside their project and customer", async () => {
    const link = (await create(a, customerId, {})).json().data;
    assert.equal((await t.api(b, { method: "GET", url: url(customerId) })).statusCode, 404);
    assert.equal((await create(b, customerId, {})).statusCode, 404);
    assert.equal((await patch(b, customerId, link.id, { language: "es" })).statusCode, 404);
    const other = (
      await t.api(a, {
        method: "POST",
        url: "/platform/v1/customers",
        payload: { customer: { name: "Other" } },
      })
    ).json().data;
    assert.equal((await patch(a, other.id, link.id, { language: "es" })).statusCode, 404);
  });

  it("finds a link by its raw token and marks it used once, for the hosted page", async () => {
    const link = (await create(a, customerId, {})).json().data;
    const found = await findSetupLinkByToken(t.ctx.db, link.token);
    assert.equal(found?.id, link.id);
    assert.equal(found?.status, "active");
    assert.equal(await findSetupLinkByToken(t.ctx.db, `${link.token}x`), undefined);

    const number = await insertSandboxNumber(t, a.projectId, { customer_id: customerId });
    const used = await t.ctx.db.transaction((tx) => markSetupLinkUsed(tx, link.id, number));
    assert.equal(used?.status, "used");
    assert.equal(used?.whatsapp_setup_status, "completed");
    assert.equal(used?.phone_number_ref, number.id);
    assert.ok(used?.used_at);
    assert.equal(await t.ctx.db.transaction((tx) => markSetupLinkUsed(tx, link.id, number)), undefined);
    const [listed] = (await t.api(a, { method: "GET", url: `${url(customerId)}?status=used` })).json().data;
    assert.equal(listed.id, link.id);
    assert.equal(listed.whatsapp_setup_status, "completed");
    assert.equal((await patch(a, customerId, link.id, { language: "es" })).statusCode, 422);

    // Neither an expired nor a revoked link can be used.
    const expired = (await create(a, customerId, {})).json().data;
    await t.ctx.db.query(
      sql`UPDATE setup_links SET expires_at = clock_timestamp() - interval '1 second' WHERE id = ${expired.id}`,
    );
    assert.equal(await t.ctx.db.transaction((tx) => markSetupLinkUsed(tx, expired.id, number)), undefined);
    const revoked = (await create(a, customerId, {})).json().data;
    await patch(a, customerId, revoked.id, { status: "revoked" });
    assert.equal(await t.ctx.db.transaction((tx) => markSetupLinkUsed(tx, revoked.id, number)), undefined);
    assert.equal((await findSetupLinkByToken(t.ctx.db, expired.token))?.status, "expired");
  });
});
