import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// The hosted onboarding page in real headless Chromium: a SaaS creates a customer and a setup
// link, its customer opens the link and connects a sandbox number with the simulated signup,
// and the SaaS learns of it by the redirect (to a page of its own, another origin) and by the
// webhook. Failure, cancel and expired paths end on the failure redirect.

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";

let t: TestApp;
let a: TestProject;
let sink: WebhookSink;
let browser: Browser;
let saas: http.Server;
let saasOrigin: string;

before(async () => {
  sink = await startWebhookSink();
  t = await startTestApp({
    listen: true,
    env: { PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1", PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "0.2,0.2" },
  });
  a = await t.createProject("A");
  const hook = await t.api(a, {
    method: "POST",
    url: "/platform/v1/whatsapp/webhooks",
    payload: { whatsapp_webhook: { url: sink.url, events: ["whatsapp.phone_number.created"] } },
  });
  assert.equal(hook.statusCode, 201, hook.body);
  // The SaaS's own pages the customer is sent back to.
  saas = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(
      `<!doctype html><title>SaaS</title><h1 id="landed">${new URL(req.url!, "http://x").pathname}</h1>`,
    );
  });
  await new Promise<void>((r) => saas.listen(0, "127.0.0.1", r));
  saasOrigin = `http://localhost:${(saas.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  await new Promise<void>((r) => saas.close(() => r()));
  await t.close();
  await sink.close();
});

async function setupLink(setup_link: Record<string, unknown> = {}) {
  const c = await t.api(a, {
    method: "POST",
    url: "/platform/v1/customers",
    payload: { customer: { name: "Ferretería Luna" } },
  });
  const customerId = c.json().data.id;
  const response = await t.api(a, {
    method: "POST",
    url: `/platform/v1/customers/${customerId}/setup_links`,
    payload: {
      setup_link: {
        success_redirect_url: `${saasOrigin}/whatsapp/connected`,
        failure_redirect_url: `${saasOrigin}/whatsapp/failed`,
        ...setup_link,
      },
    },
  });
  assert.equal(response.statusCode, 201, response.body);
  const link = response.json().data;
  // `url` is PUBLIC_URL/setup/{token}; the browser reaches this test server's own address.
  return { id: link.id as string, customerId, url: `${t.baseUrl}${new URL(link.url).pathname}` };
}

const params = (url: string) => Object.fromEntries(new URL(url).searchParams);

describe("hosted onboarding in Chromium", () => {
  it("connects a sandbox number with the simulated signup and lands on the success redirect", async () => {
    const link = await setupLink({ language: "es", theme_config: { primary_color: "#7c3aed" } });
    const page = await browser.newPage();
    await page.goto(link.url);
    await page.getByText("Conecta un número de WhatsApp para Ferretería Luna").waitFor();
    const background = await page.locator("#simulate").evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(background, "rgb(124, 58, 237)", "themed with the link's primary colour");

    await page.locator("#simulate").click();
    await page.locator("#dialog").waitFor();
    await page.locator("#dialog-continue").click();
    await page.waitForURL(`${saasOrigin}/whatsapp/connected?**`, { timeout: 15_000 });
    await page.locator("#landed").waitFor();

    const landed = params(page.url());
    assert.equal(landed.setup_link_id, link.id);
    assert.equal(landed.status, "completed");
    assert.match(landed.phone_number_id!, /^\d{15}$/);
    assert.match(landed.business_account_id!, /^\d{15}$/);
    assert.match(landed.display_phone_number!, /^\+1555\d{7}$/);
    assert.match(page.url(), /display_phone_number=%2B1555/);
    await page.close();

    // The SaaS sees the number under its customer, and got the webhook.
    const numbers = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/phone_numbers?customer_id=${link.customerId}`,
    });
    const [number] = numbers.json().data;
    assert.equal(number.id, landed.phone_number_id);
    assert.equal(number.kind, "sandbox");
    await sink.waitFor((received) =>
      received.some(
        (w) =>
          w.headers["x-webhook-event"] === "whatsapp.phone_number.created" &&
          (w.body as { phone_number_id?: string }).phone_number_id === landed.phone_number_id,
      ),
    );
    const links = await t.api(a, {
      method: "GET",
      url: `/platform/v1/customers/${link.customerId}/setup_links`,
    });
    assert.equal(links.json().data[0].status, "used");
  });

  it("lets the customer choose coexistence when the link allows both", async () => {
    const link = await setupLink();
    const page = await browser.newPage();
    await page.goto(link.url);
    await page.locator("input[value=coexistence]").check();
    await page.locator("#simulate").click();
    await page.locator("#dialog-continue").click();
    await page.waitForURL(`${saasOrigin}/whatsapp/connected?**`, { timeout: 15_000 });
    const id = params(page.url()).phone_number_id!;
    const number = await t.api(a, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}` });
    assert.equal(number.json().data.is_coexistence, true);
    await page.close();
  });

  it("ends on the failure redirect with the error code when Meta refuses or the customer cancels", async () => {
    for (const [outcome, code] of [
      ["pin", "phone_verification_failed"],
      ["token", "token_exchange_failed"],
      ["limit", "waba_limit_reached"],
      ["cancel", "facebook_auth_failed"],
    ] as const) {
      const link = await setupLink();
      const page = await browser.newPage();
      await page.goto(link.url);
      await page.locator("#simulate").click();
      if (outcome === "cancel") {
        await page.locator("#dialog-cancel").click();
      } else {
        await page.locator("#outcome").selectOption(outcome);
        await page.locator("#dialog-continue").click();
      }
      await page.waitForURL(`${saasOrigin}/whatsapp/failed?**`, { timeout: 15_000 });
      assert.deepEqual(params(page.url()), { setup_link_id: link.id, error_code: code }, outcome);
      await page.close();
    }
  });

  it("shows a used or expired link as such and sends the customer back with the code", async () => {
    const link = await setupLink();
    await t.ctx.db.query(
      sql`UPDATE setup_links SET expires_at = now() - interval '1 minute' WHERE id = ${link.id}`,
    );
    const page = await browser.newPage();
    const response = await page.goto(link.url);
    assert.equal(response?.status(), 410);
    await page.getByText("This setup link has expired or was revoked.").waitFor();
    await page.waitForURL(`${saasOrigin}/whatsapp/failed?**`, { timeout: 10_000 });
    assert.deepEqual(params(page.url()), { setup_link_id: link.id, error_code: "link_expired" });

    // Without a redirect the page says what happened and stays.
    const used = await setupLink({ failure_redirect_url: null, success_redirect_url: null });
    await page.goto(used.url);
    await page.locator("#simulate").click();
    await page.locator("#dialog-continue").click();
    await page.getByText(/is connected\. You can close this page\./).waitFor({ timeout: 15_000 });
    await page.reload();
    await page.getByText("This setup link has already been used.").waitFor();
    await page.close();
  });
});
