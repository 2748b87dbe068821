import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { type LoggedEvent, watchEvents } from "../../../test/support/event-log.ts";
import { startWebhookSink, type WebhookSink } from "../../../test/support/webhook-sink.ts";
import { connectPhoneNumber } from "../phone-numbers/service.ts";
import { findLivePhoneNumberByMetaId } from "../phone-numbers/store.ts";
import { markSetupLinkUsed } from "./store.ts";

// Hosted onboarding behind a setup link's `url`, end to end over real HTTP: the page, and the
// completion path (code exchange, WABA and number lookup, registration, subscription, connect)
// answered by the built-in sandbox, for simulated signups and for the real Meta path (Meta's
// Graph URL pointed at the sandbox).

let t: TestApp;
let a: TestProject;
let b: TestProject;
let sink: WebhookSink;
let eventsOfA: () => Promise<LoggedEvent[]>;

before(async () => {
  sink = await startWebhookSink();
  t = await startTestApp({
    listen: true,
    env: { PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1", PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "0.2,0.2" },
  });
  a = await t.createProject("A");
  eventsOfA = await watchEvents(t, a.projectId);
  b = await t.createProject("B");
  const hook = await t.api(a, {
    method: "POST",
    url: "/platform/v1/whatsapp/webhooks",
    payload: { whatsapp_webhook: { url: sink.url, events: ["whatsapp.phone_number.created"] } },
  });
  assert.equal(hook.statusCode, 201, hook.body);
});
after(async () => {
  await t.close();
  await sink.close();
});

async function customer(p: TestProject, name = "Acme"): Promise<string> {
  const response = await t.api(p, {
    method: "POST",
    url: "/platform/v1/customers",
    payload: { customer: { name } },
  });
  return response.json().data.id;
}

interface Link {
  id: string;
  token: string;
  url: string;
  customerId: string;
}

async function link(
  p: TestProject,
  setup_link: Record<string, unknown> = {},
  customerId?: string,
): Promise<Link> {
  const c = customerId ?? (await customer(p));
  const response = await t.api(p, {
    method: "POST",
    url: `/platform/v1/customers/${c}/setup_links`,
    payload: {
      setup_link: {
        success_redirect_url: "https://app.example.com/done?from=parley",
        failure_redirect_url: "https://app.example.com/failed",
        ...setup_link,
      },
    },
  });
  assert.equal(response.statusCode, 201, response.body);
  const data = response.json().data;
  return { id: data.id, token: data.token, url: data.url, customerId: c };
}

const page = (l: Link, headers: Record<string, string> = {}) =>
  t.request({ method: "GET", url: `/setup/${l.token}`, headers });
const complete = (l: Link, payload: Record<string, unknown>) =>
  t.request({ method: "POST", url: `/setup/${l.token}/complete`, payload });
const simulated = (l: Link, code = `sandbox-${Math.random().toString(36).slice(2)}`, extra = {}) =>
  complete(l, { code, simulated: true, ...extra });

async function linkRow(l: Link) {
  const response = await t.api(a, {
    method: "GET",
    url: `/platform/v1/customers/${l.customerId}/setup_links`,
  });
  return response.json().data.find((x: { id: string }) => x.id === l.id);
}

function query(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams);
}

function assertFailure(
  response: Awaited<ReturnType<typeof complete>>,
  l: Link,
  status: number,
  code: string,
  message?: RegExp,
) {
  assert.equal(response.statusCode, status, response.body);
  const body = response.json();
  assert.equal(body.error_code, code);
  assert.equal(typeof body.error, "string");
  if (message) assert.match(body.error, message);
  assert.ok(body.redirect_url.startsWith("https://app.example.com/failed?"), body.redirect_url);
  assert.deepEqual(query(body.redirect_url), { setup_link_id: l.id, error_code: code });
}

describe("hosted onboarding page", () => {
  it("serves a themed page in the link's language with only its connection types", async () => {
    const l = await link(a, {
      language: "es",
      allowed_connection_types: ["coexistence"],
      theme_config: { primary_color: "#123abc", background_color: "#fafafa" },
    });
    const response = await page(l);
    assert.equal(response.statusCode, 200);
    assert.match(response.headers["content-type"] as string, /text\/html/);
    assert.equal(response.headers["cache-control"], "no-store");
    assert.equal(response.headers["referrer-policy"], "no-referrer");
    assert.equal(response.headers["content-security-policy"], "frame-ancestors 'none'");
    const html = response.body;
    assert.match(html, /<html lang="es">/);
    assert.match(html, /--primary-color:#123abc/);
    assert.match(html, /--card-color:#fafafa/, "card follows the background");
    assert.match(html, /--text-color:#0f172a/, "defaults fill the rest");
    assert.match(html, /Conecta un número de WhatsApp para Acme/);
    assert.doesNotMatch(html, /name="type"/, "a single connection type is chosen for the customer");
    assert.match(html, /"types":\["coexistence"\]/);
    assert.match(html, /id="simulate"/, "the sandbox offers a simulated signup");
    assert.doesNotMatch(html, /id="connect"/, "no Meta app configured: no Embedded Signup");
  });

  it("offers both connection types, Meta's Embedded Signup when configured, and the browser's language", async () => {
    const l = await link(a, { theme_config: null });
    const meta = t.ctx.config.meta;
    Object.assign(meta, { appId: "1234567890", appSecret: "app-secret", configurationId: "998877" });
    try {
      const response = await page(l, { "accept-language": "de-DE,de;q=0.9,pt-BR;q=0.8,en;q=0.5" });
      const html = response.body;
      assert.match(html, /<html lang="pt">/);
      assert.match(html, /value="dedicated" checked/);
      assert.match(html, /value="coexistence"/);
      assert.match(html, /id="connect"/);
      assert.match(html, /"appId":"1234567890","configurationId":"998877","graphVersion":"v24.0"/);
      assert.ok(!html.includes("app-secret"), "the app secret never reaches the page");
      assert.match(html, /connect\.facebook\.net\/en_US\/sdk\.js/);
      const arabic = await link(a, { language: "ar" });
      assert.match((await page(arabic)).body, /<html lang="ar" dir="rtl">/);
    } finally {
      Object.assign(meta, { appId: undefined, appSecret: undefined, configurationId: undefined });
    }
  });

  it("shows a clear page for unknown, used, expired and revoked links, redirecting with the code", async () => {
    const unknown = await t.request({ method: "GET", url: "/setup/setup_nope" });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /This setup link is not valid/);
    assert.doesNotMatch(unknown.body, /http-equiv="refresh"/);

    const used = await link(a);
    assert.equal((await simulated(used)).statusCode, 200);
    const usedPage = await page(used);
    assert.equal(usedPage.statusCode, 410);
    assert.match(usedPage.body, /already been used/);
    const refresh = /http-equiv="refresh" content="3;url=([^"]+)"/.exec(usedPage.body)!;
    assert.deepEqual(query(refresh[1]!.replace(/&amp;/g, "&")), {
      setup_link_id: used.id,
      error_code: "already_used",
    });

    const expired = await link(a);
    await t.ctx.db.query(
      sql`UPDATE setup_links SET expires_at = now() - interval '1 minute' WHERE id = ${expired.id}`,
    );
    const expiredPage = await page(expired);
    assert.equal(expiredPage.statusCode, 410);
    assert.match(expiredPage.body, /expired or was revoked/);
    assert.match(expiredPage.body, /error_code=link_expired/);

    const revoked = await link(a, { failure_redirect_url: null });
    await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/customers/${revoked.customerId}/setup_links/${revoked.id}`,
      payload: { setup_link: { status: "revoked" } },
    });
    const revokedPage = await page(revoked);
    assert.equal(revokedPage.statusCode, 410);
    assert.match(revokedPage.body, /expired or was revoked/);
    assert.doesNotMatch(revokedPage.body, /refresh/, "no failure_redirect_url: nothing to redirect to");
  });
});

describe("completing an onboarding", () => {
  it("connects a sandbox number under the customer through the sandbox's Graph API, marks the link used and tells the SaaS", async () => {
    const l = await link(a);
    const response = await simulated(l);
    assert.equal(response.statusCode, 200, response.body);
    const result = response.json().data;
    assert.equal(result.status, "completed");
    assert.equal(result.setup_link_id, l.id);
    assert.match(result.phone_number_id, /^\d{15}$/);
    assert.match(result.business_account_id, /^\d{15}$/);
    assert.match(result.display_phone_number, /^\+1555\d{7}$/);
    const redirect = new URL(result.redirect_url);
    assert.equal(`${redirect.origin}${redirect.pathname}`, "https://app.example.com/done");
    assert.deepEqual(Object.fromEntries(redirect.searchParams), {
      from: "parley",
      setup_link_id: l.id,
      status: "completed",
      phone_number_id: result.phone_number_id,
      business_account_id: result.business_account_id,
      display_phone_number: result.display_phone_number,
    });
    assert.match(result.redirect_url, /display_phone_number=%2B1555/);

    const listed = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/phone_numbers?customer_id=${l.customerId}`,
    });
    const [number] = listed.json().data;
    assert.equal(number.id, result.phone_number_id);
    assert.equal(number.kind, "sandbox");
    assert.equal(number.business_account_id, result.business_account_id);
    assert.equal(number.is_coexistence, false);
    assert.equal(number.name, "Parley Sandbox");

    // The sandbox saw the registration and the subscription.
    const [registered] = await t.ctx.db.query<{ registered_at: string | null }>(
      sql`SELECT registered_at FROM sandbox_numbers WHERE phone_number_id = ${result.phone_number_id}`,
    );
    assert.ok(registered?.registered_at);
    const [waba] = await t.ctx.db.query<{ subscribed_at: string | null }>(
      sql`SELECT subscribed_at FROM sandbox_wabas WHERE business_account_id = ${result.business_account_id}`,
    );
    assert.ok(waba?.subscribed_at);

    const after = await linkRow(l);
    assert.equal(after.status, "used");
    assert.equal(after.whatsapp_setup_status, "completed");
    assert.equal(after.whatsapp_setup_error, null);

    await sink.waitFor((r) =>
      r.some((w) => (w.body as { phone_number_id?: string })?.phone_number_id === result.phone_number_id),
    );
    const delivered = sink.received.find(
      (w) => (w.body as { phone_number_id?: string })?.phone_number_id === result.phone_number_id,
    )!;
    assert.equal(delivered.headers["x-webhook-event"], "whatsapp.phone_number.created");
    assert.deepEqual((delivered.body as { customer: unknown }).customer, { id: l.customerId });

    // The number works: it sends through the sandbox.
    const sent = await t.api(a, {
      method: "POST",
      url: `/meta/whatsapp/v24.0/${result.phone_number_id}/messages`,
      payload: {
        messaging_product: "whatsapp",
        to: "15550001111",
        type: "template",
        template: { name: "hello_world", language: { code: "en_US" } },
      },
    });
    assert.equal(sent.statusCode, 200, sent.body);

    assertFailure(await simulated(l), l, 409, "already_used");
  });

  it("connects a coexistence number without registering it", async () => {
    const l = await link(a, { allowed_connection_types: ["coexistence"] });
    const response = await simulated(l);
    assert.equal(response.statusCode, 200, response.body);
    const id = response.json().data.phone_number_id;
    const row = (await findLivePhoneNumberByMetaId(t.ctx.db, id))!;
    assert.equal(row.is_coexistence, true);
    const [state] = await t.ctx.db.query(
      sql`SELECT registered_at FROM sandbox_numbers WHERE phone_number_id = ${id}`,
    );
    assert.equal(state, undefined, "a coexistence number stays registered with the Business App");
  });

  it("fails with Meta's refusals as the documented error codes, recording them on the link, which stays usable", async () => {
    const l = await link(a);
    assertFailure(
      await simulated(l, "sandbox-pin-mismatch-1"),
      l,
      422,
      "phone_verification_failed",
      /133005/,
    );
    let row = await linkRow(l);
    assert.equal(row.status, "active");
    assert.equal(row.whatsapp_setup_status, "failed");
    assert.match(row.whatsapp_setup_error, /^phone_verification_failed: .*PIN Mismatch/);

    assertFailure(await simulated(l, "sandbox-expired-1"), l, 422, "token_exchange_failed", /expired/);
    assertFailure(await simulated(l, "AQBx-not-a-sandbox-code"), l, 422, "token_exchange_failed");
    assertFailure(await simulated(l, "sandbox-no-waba-1"), l, 422, "facebook_auth_failed", /did not share/);
    row = await linkRow(l);
    assert.match(row.whatsapp_setup_error, /^facebook_auth_failed: /);

    // The customer (or Meta's dialog) gave up in the browser.
    for (const error_code of ["facebook_auth_failed", "waba_limit_reached"]) {
      const response = await t.request({
        method: "POST",
        url: `/setup/${l.token}/fail`,
        payload: { error_code, message: "Meta said no" },
      });
      assert.equal(response.statusCode, 200, response.body);
      const data = response.json().data;
      assert.equal(data.status, "failed");
      assert.equal(data.error_code, error_code);
      assert.deepEqual(query(data.redirect_url), { setup_link_id: l.id, error_code });
      assert.equal((await linkRow(l)).whatsapp_setup_error, `${error_code}: Meta said no`);
    }

    const none = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/phone_numbers?customer_id=${l.customerId}`,
    });
    assert.equal(none.json().data.length, 0, "no failure connected anything");
    const retry = await simulated(l);
    assert.equal(retry.statusCode, 200, retry.body);
    assert.equal((await linkRow(l)).whatsapp_setup_status, "completed");
    const late = await t.request({
      method: "POST",
      url: `/setup/${l.token}/fail`,
      payload: { error_code: "facebook_auth_failed" },
    });
    assert.equal(late.json().data.error_code, "already_used");
  });

  it("refuses expired, revoked and unknown links", async () => {
    const expired = await link(a);
    await t.ctx.db.query(
      sql`UPDATE setup_links SET expires_at = now() - interval '1 second' WHERE id = ${expired.id}`,
    );
    assertFailure(await simulated(expired), expired, 410, "link_expired");
    const revoked = await link(a);
    await link(a, {}, revoked.customerId); // a new link revokes the customer's previous one
    assertFailure(await simulated(revoked), revoked, 410, "link_expired");
    const unknown = await t.request({
      method: "POST",
      url: "/setup/setup_unknown/complete",
      payload: { code: "sandbox-x", simulated: true },
    });
    assert.equal(unknown.statusCode, 404);
    assert.deepEqual(unknown.json(), { error: "Setup link not found" });
    const none = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/phone_numbers?customer_id=${revoked.customerId}`,
    });
    assert.equal(none.json().data.length, 0);
  });

  it("lets only one of two concurrent completions win", async () => {
    for (const sameCode of [false, true]) {
      const l = await link(a);
      const code = sameCode ? "sandbox-race-same" : undefined;
      const results = await Promise.all([simulated(l, code), simulated(l, code)]);
      const statuses = results.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [200, 409], results.map((r) => r.body).join("\n"));
      const loser = results.find((r) => r.statusCode === 409)!;
      assert.equal(loser.json().error_code, "already_used");
      const numbers = await t.api(a, {
        method: "GET",
        url: `/platform/v1/whatsapp/phone_numbers?customer_id=${l.customerId}`,
      });
      assert.equal(numbers.json().data.length, 1);
      assert.equal((await linkRow(l)).status, "used");
    }
  });

  it("lets a number be connected by one link only, and rolls the number back when its link cannot be marked used", async () => {
    // Two links, same code (the same number): the second finds the number connected.
    const first = await link(a);
    const second = await link(a);
    assert.equal((await simulated(first, "sandbox-shared-number")).statusCode, 200);
    assertFailure(
      await simulated(second, "sandbox-shared-number"),
      second,
      422,
      "phone_verification_failed",
      /already connected/,
    );

    // The guard inside the connecting transaction: a link that is no longer active leaves no number.
    const l = await link(a);
    await t.ctx.db.query(sql`UPDATE setup_links SET status = 'revoked' WHERE id = ${l.id}`);
    const phoneNumberId = "555000111222333";
    await assert.rejects(
      connectPhoneNumber(
        t.ctx,
        a.projectId,
        l.customerId,
        { name: "Late", kind: "sandbox", phone_number_id: phoneNumberId },
        {
          inTransaction: async (tx, row) => {
            if (!(await markSetupLinkUsed(tx, l.id, row))) throw new Error("link taken");
          },
        },
      ),
      /link taken/,
    );
    assert.equal(await findLivePhoneNumberByMetaId(t.ctx.db, phoneNumberId), undefined);
    const events = (await eventsOfA()).filter((e) => e.payload.phone_number_id === phoneNumberId);
    assert.equal(events.length, 0, "no event for a number that was rolled back");
  });

  it("holds a link while an onboarding runs, and frees it when that onboarding stopped answering", async () => {
    const l = await link(a);
    await t.ctx.db.query(
      sql`UPDATE setup_links SET whatsapp_setup_status = 'processing', updated_at = clock_timestamp() WHERE id = ${l.id}`,
    );
    assertFailure(await simulated(l), l, 409, "already_used", /another window/);
    await t.ctx.db.query(
      sql`UPDATE setup_links SET updated_at = clock_timestamp() - interval '6 minutes' WHERE id = ${l.id}`,
    );
    assert.equal((await simulated(l)).statusCode, 200);
  });

  it("validates the request", async () => {
    const l = await link(a, { allowed_connection_types: ["dedicated"] });
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ simulated: true }, 422, /code is required/],
      [{ code: "", simulated: true }, 422, /code/],
      [{ code: "sandbox-x", simulated: "yes" }, 422, /simulated must be a boolean/],
      [
        { code: "sandbox-x", simulated: true, connection_type: "coexistence" },
        422,
        /connection_type must be one of: dedicated/,
      ],
      [{ code: "sandbox-x", simulated: true, phone_number_id: "abc" }, 422, /phone_number_id/],
      [{ code: "sandbox-x" }, 422, /Embedded Signup is not configured/],
    ];
    for (const [payload, status, message] of cases) {
      const response = await complete(l, payload);
      assert.equal(response.statusCode, status, `${JSON.stringify(payload)}: ${response.body}`);
      assert.match(response.json().error, message);
    }
    const badJson = await t.request({
      method: "POST",
      url: `/setup/${l.token}/complete`,
      headers: { "content-type": "application/json" },
      payload: "{",
    });
    assert.equal(badJson.statusCode, 400);
    const badFail = await t.request({
      method: "POST",
      url: `/setup/${l.token}/fail`,
      payload: { error_code: "already_used" },
    });
    assert.equal(badFail.statusCode, 422);
    assert.match(badFail.json().error, /error_code must be one of/);

    t.ctx.config.sandboxEnabled = false;
    try {
      const off = await simulated(l);
      assert.equal(off.statusCode, 422);
      assert.match(off.json().error, /simulated needs the sandbox/);
    } finally {
      t.ctx.config.sandboxEnabled = true;
    }
    assert.equal((await linkRow(l)).status, "active", "refused requests leave the link alone");
  });
});

describe("completing with Meta's Embedded Signup", () => {
  it("exchanges the code with the app's credentials and connects a production number with the encrypted business token", async () => {
    const meta = t.ctx.config.meta;
    const saved = { ...meta };
    Object.assign(meta, {
      appId: "1234567890",
      appSecret: "app-secret",
      configurationId: "998877",
      graphUrl: `${t.baseUrl}/sandbox/graph`,
    });
    try {
      const l = await link(a);
      const response = await complete(l, { code: "sandbox-meta-path", connection_type: "dedicated" });
      assert.equal(response.statusCode, 200, response.body);
      const result = response.json().data;
      const row = (await findLivePhoneNumberByMetaId(t.ctx.db, result.phone_number_id))!;
      assert.equal(row.kind, "production");
      assert.equal(row.customer_id, l.customerId);
      assert.equal(row.business_account_id, result.business_account_id);
      const token = t.ctx.cipher.decrypt(row.access_token_encrypted!);
      assert.match(token, /^sandbox-token-[0-9a-f]{32}$/);
      assert.ok(!row.access_token_encrypted!.includes(token));

      // The page may pass on the ids of Meta's FINISH message; a WABA the token was not granted is refused.
      const other = await link(a);
      assertFailure(
        await complete(other, { code: "sandbox-meta-other", business_account_id: "111111111111111" }),
        other,
        422,
        "facebook_auth_failed",
        /not shared/,
      );

      // A reconnection link gives the customer's number a fresh token instead of a new number.
      const reconnect = await link(
        a,
        { reconnect_phone_number: `+${row.display_phone_number_normalized}` },
        l.customerId,
      );
      const again = await complete(reconnect, {
        code: "sandbox-meta-path",
        phone_number_id: result.phone_number_id,
      });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(again.json().data.phone_number_id, result.phone_number_id);
      const numbers = await t.api(a, {
        method: "GET",
        url: `/platform/v1/whatsapp/phone_numbers?customer_id=${l.customerId}`,
      });
      assert.equal(numbers.json().data.length, 1, "reconnecting connects no second number");
      assert.equal((await linkRow(reconnect)).status, "used");
    } finally {
      Object.assign(meta, saved);
    }
  });

  it("keeps projects apart: another project's link token is only its own", async () => {
    const l = await link(b);
    const response = await simulated(l);
    assert.equal(response.statusCode, 200);
    const id = response.json().data.phone_number_id;
    const fromA = await t.api(a, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}` });
    assert.equal(fromA.statusCode, 404);
    const fromB = await t.api(b, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}` });
    assert.equal(fromB.json().data.customer_id, l.customerId);
  });
});
