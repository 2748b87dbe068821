import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Locator, type Page, type WebSocketRoute } from "playwright-core";
import sql from "sql-template-tag";
import { endIdleConversations } from "../src/modules/conversations/idle.ts";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { graphTargetFor } from "../src/whatsapp/targets.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber, PNG } from "./support/fixtures.ts";

// The embedded inbox in real headless Chromium, framed by a host page on another origin
// (localhost vs 127.0.0.1), as a SaaS embeds it.

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";

let t: TestApp;
let a: TestProject;
let number: PhoneNumberRow;
let browser: Browser;
let host: http.Server;
let hostOrigin: string;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "50" } });
  a = await t.createProject("A");
  number = await insertSandboxNumber(t, a.projectId);
  await simulateInbound(t.ctx, {
    phoneNumberId: number.phone_number_id,
    from: "15550601000",
    profileName: "Maria",
    message: { type: "text", text: { body: "hola" } },
  });
  host = http.createServer((req, res) => {
    const src = new URL(req.url!, "http://x").searchParams.get("src")!;
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><script>window.received=[];addEventListener("message",(e)=>received.push(e.data))</script>
<iframe id="inbox" src="${src}" style="width:900px;height:600px;border:0"></iframe>`);
  });
  await new Promise<void>((r) => host.listen(0, "127.0.0.1", r));
  hostOrigin = `http://localhost:${(host.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  await new Promise<void>((r) => host.close(() => r()));
  await t.close();
});

async function embedToken(inbox_embed: Record<string, unknown>): Promise<string> {
  const response = await t.api(a, {
    method: "POST",
    url: "/platform/v1/inbox_embeds",
    payload: { inbox_embed },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data.token;
}

/** Polls until `locator` matches exactly `n` elements (no fixed sleeps). */
async function countIs(locator: Locator, n: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = await locator.count();
  while (count !== n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} elements, found ${count}`);
    await new Promise((r) => setTimeout(r, 50));
    count = await locator.count();
  }
}

/** Screenshots of the main states, kept as test artifacts (test-artifacts/, not committed). */
async function save(page: Page, name: string): Promise<void> {
  fs.mkdirSync("test-artifacts", { recursive: true });
  await page.screenshot({ path: `test-artifacts/${name}.png` });
}

async function openHost(token: string, query = "") {
  const page = await browser.newPage();
  await page.goto(`${hostOrigin}/?src=${encodeURIComponent(`${t.baseUrl}/embed/${token}${query}`)}`);
  return page;
}

describe("embedded inbox in Chromium", () => {
  it("shows live messages, replies with status ticks, and tells the host its state", async () => {
    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Maria" }).click();
    await frame.locator(".msg.inbound", { hasText: "hola" }).waitFor();
    await frame.locator("#dot.on").waitFor();

    // A message arriving now appears without a reload.
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550601000",
      message: { type: "text", text: { body: "¿sigues ahí?" } },
    });
    await frame.locator(".msg.inbound", { hasText: "¿sigues ahí?" }).waitFor({ timeout: 10_000 });

    await frame.locator("#text").fill("Sí, aquí estoy");
    await frame.locator("#send").click();
    await frame.locator(".msg.outbound", { hasText: "Sí, aquí estoy" }).waitFor();
    // The sandbox reports sent → delivered → read; the ticks follow live.
    await frame.locator(".msg.outbound .ticks.read").waitFor({ timeout: 10_000 });

    const received = (await page.evaluate("window.received")) as {
      source: string;
      type: string;
      payload: { reason: string };
    }[];
    const reasons = received
      .filter((m) => m.source === "kapso-inbox" && m.type === "inbox.state")
      .map((m) => m.payload.reason);
    assert.ok(reasons.includes("ready"), JSON.stringify(reasons));
    assert.ok(reasons.includes("conversation_selected"));
    await page.close();
  });

  it("shows its connection state and catches up on what it missed while disconnected", async () => {
    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await browser.newPage();
    // Playwright stands between the page and Parley's WebSocket, so the test can cut the
    // connection and refuse reconnections for as long as it needs.
    let refuse = false;
    const routes: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/embed\/api\/ws/, (ws) => {
      if (refuse) return ws.close({ code: 1012, reason: "test: refused" });
      ws.connectToServer();
      routes.push(ws);
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550604000",
      profileName: "Carla",
      message: { type: "text", text: { body: "buenas" } },
    });
    await page.goto(`${hostOrigin}/?src=${encodeURIComponent(`${t.baseUrl}/embed/${token}`)}`);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Carla" }).click();
    await frame.locator("#conn[data-state=live]").waitFor();

    refuse = true;
    for (const ws of routes) await ws.close({ code: 1012, reason: "test: cut" });
    await frame.locator("#conn:not([data-state=live])").waitFor();
    await save(page, "inbox-offline");
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550604000",
      profileName: "Carla",
      message: { type: "text", text: { body: "mientras no estabas" } },
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550603000",
      profileName: "Nuevo",
      message: { type: "text", text: { body: "soy nuevo" } },
    });
    assert.equal(await frame.locator(".msg", { hasText: "mientras no estabas" }).count(), 0, "not live");
    refuse = false;
    // Backoff is at most a few seconds after so short an outage.
    await frame.locator("#conn[data-state=live]").waitFor({ timeout: 30_000 });
    await frame.locator(".msg.inbound", { hasText: "mientras no estabas" }).waitFor({ timeout: 10_000 });
    await frame.locator("#conversations li", { hasText: "Nuevo" }).waitFor({ timeout: 10_000 });
    await save(page, "inbox-caught-up");
    await page.close();
  });

  it("loads the list 30 at a time as it scrolls, and starts with the URL's unread and handoff filters", async () => {
    const many = await insertSandboxNumber(t, a.projectId);
    for (let i = 0; i < 65; i++) {
      await simulateInbound(t.ctx, {
        phoneNumberId: many.phone_number_id,
        from: `1555080${String(i).padStart(4, "0")}`,
        profileName: `Scroll ${i}`,
        message: { type: "text", text: { body: `hola ${i}` } },
      });
    }
    const token = await embedToken({
      scope_type: "phone_number",
      scope_id: many.phone_number_id,
      allowed_origins: [hostOrigin],
    });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    const items = frame.locator("#conversations li[data-id]");
    await countIs(items, 30);
    await items.nth(29).scrollIntoViewIfNeeded();
    await countIs(items, 60);
    await items.nth(59).scrollIntoViewIfNeeded();
    await countIs(items, 65);
    assert.equal(await frame.locator("#conversations li.more").count(), 0, "the end of the list");
    await page.close();

    // One conversation answered, one read: the URL's filters leave both out.
    const [answered, read] = (
      await t.request({
        method: "GET",
        url: "/embed/api/conversations?limit=2",
        headers: { authorization: `Bearer ${token}` },
      })
    ).json().data;
    const reply = await t.request({
      method: "POST",
      url: `/embed/api/conversations/${answered.id}/messages`,
      headers: { authorization: `Bearer ${token}` },
      payload: { text: "respondido" },
    });
    assert.equal(reply.statusCode, 201, reply.body);
    await t.request({
      method: "POST",
      url: `/embed/api/conversations/${read.id}/read`,
      headers: { authorization: `Bearer ${token}` },
      payload: {},
    });
    const filtered = await openHost(token, "?unread=1&handoff=true");
    const inner = filtered.frameLocator("#inbox");
    await inner.locator("#conversations li[data-id]").first().waitFor();
    assert.equal(await inner.locator("#unread").isChecked(), true);
    assert.equal(await inner.locator("#handoff").isChecked(), true);
    assert.equal(await inner.locator(`#conversations li[data-id="${answered.id}"]`).count(), 0);
    assert.equal(await inner.locator(`#conversations li[data-id="${read.id}"]`).count(), 0);
    const ready = (
      (await filtered.evaluate("window.received")) as { payload: Record<string, unknown> }[]
    ).find((m) => m.payload?.reason === "ready");
    assert.deepEqual(ready?.payload.filters, {
      status: "active",
      search: "",
      unread: true,
      handoff: true,
      phone_number_id: null,
    });
    await save(filtered, "inbox-filtered");
    await filtered.close();
  });

  it("renames the contact in the details panel, ends and reopens, and follows renames made elsewhere", async () => {
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550605000",
      profileName: "Pedro",
      message: { type: "text", text: { body: "hola, soy Pedro" } },
    });
    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Pedro" }).click();
    await frame.locator("#profile", { hasText: "Pedro" }).waitFor();
    await frame.locator("#phone", { hasText: "+15550605000" }).waitFor();
    await frame.locator("#display-name").fill("Pedro (cliente VIP)");
    await frame.locator("#save-name").click();
    await frame.locator("#conversations li.selected", { hasText: "Pedro (cliente VIP)" }).waitFor();
    await save(page, "inbox-details");

    await frame.locator("#toggle-status", { hasText: "End conversation" }).click();
    await frame.locator("#ended:not([hidden])").waitFor();
    assert.equal(await frame.locator("#composer").isHidden(), true, "no composer on an ended conversation");
    await frame.locator("#toggle-status", { hasText: "Reopen conversation" }).click();
    await frame.locator("#composer:not([hidden])").waitFor();

    // A rename through the Platform API reaches the open page live.
    const renamed = await t.api(a, {
      method: "PATCH",
      url: "/platform/v1/whatsapp/contacts/15550605000",
      payload: { contact: { display_name: "Pedro Gómez" } },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    await frame
      .locator("#conversations li.selected", { hasText: "Pedro Gómez" })
      .waitFor({ timeout: 10_000 });
    assert.equal(await frame.locator("#display-name").inputValue(), "Pedro Gómez");
    await page.close();
  });

  it("sends a photo with a caption, and only a template once the 24-hour window has closed", async () => {
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550606000",
      profileName: "Sofía",
      message: { type: "text", text: { body: "¿me mandas la foto?" } },
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550607000",
      profileName: "Tomás",
      message: {
        type: "text",
        text: { body: "hace dos días" },
        timestamp: String(Math.floor(Date.now() / 1000) - 2 * 24 * 3600),
      },
    });
    // The idle sweep (every five minutes) ends Tomás's conversation, his message being two days
    // old; run now, so that the template below always opens a new one and the inbox moves to it.
    await endIdleConversations(t.ctx);
    await t.ctx.graph.request(graphTargetFor(t.ctx, number), {
      method: "POST",
      path: `/${number.business_account_id}/message_templates`,
      json: {
        name: "receipt_photo",
        language: "en_US",
        category: "utility",
        components: [
          { type: "HEADER", format: "IMAGE" },
          { type: "BODY", text: "Here is your receipt for order {{1}}." },
        ],
      },
    });
    t.ctx.config.publicUrl = t.baseUrl;
    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");

    await frame.locator("#conversations li", { hasText: "Sofía" }).click();
    await frame.locator("#file").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
    await frame.locator("#attachment", { hasText: "dot.png" }).waitFor();
    await frame.locator("#text").fill("aquí está");
    await frame.locator("#send").click();
    const photo = frame.locator(".msg.outbound", { hasText: "aquí está" });
    await photo.locator("img.media").waitFor();
    const width = await photo.locator("img.media").evaluate(async (img: HTMLImageElement) => {
      if (!img.complete) await new Promise((r) => img.addEventListener("load", r, { once: true }));
      return img.naturalWidth;
    });
    assert.equal(width, 2, "the uploaded PNG comes back through Parley's media URL");
    await frame.locator(".msg.outbound .ticks.read").first().waitFor({ timeout: 10_000 });

    await frame.locator("#conversations li", { hasText: "Tomás" }).click();
    await frame.locator("#templates:not([hidden])").waitFor();
    assert.equal(await frame.locator("#composer").isHidden(), true, "no free-form reply outside the window");
    assert.match((await frame.locator("#window-note").textContent())!, /24 hours/);
    await frame.locator("#template").selectOption({ label: "order_update (en_US)" });
    await frame.locator("#template-params input").fill("#A-7");
    await frame.locator("#template-preview", { hasText: "Your order #A-7 has been updated." }).waitFor();
    await save(page, "inbox-template");
    await frame.locator("#send-template").click();
    await frame.locator(".msg.outbound", { hasText: "[template order_update]" }).waitFor();

    // A template with an image header takes a file for it.
    await frame.locator("#template").selectOption({ label: "receipt_photo (en_US)" });
    await frame
      .locator("#template-file")
      .setInputFiles({ name: "receipt.png", mimeType: "image/png", buffer: PNG });
    await frame.locator("#template-params input:not([type=file])").fill("#B-8");
    await frame.locator("#send-template").click();
    await frame.locator(".msg.outbound", { hasText: "[template receipt_photo]" }).waitFor();
    await page.close();
  });

  it("shows the photo a contact sent, loaded from its signed media URL", async () => {
    t.ctx.config.publicUrl = t.baseUrl;
    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("type", "image/png");
    form.set("file", new Blob([new Uint8Array(PNG)], { type: "image/png" }), "dot.png");
    const { id } = await t.ctx.graph.request<{ id: string }>(graphTargetFor(t.ctx, number), {
      method: "POST",
      path: `/${number.phone_number_id}/media`,
      form,
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550602000",
      profileName: "Lucía",
      message: { type: "image", image: { id, mime_type: "image/png", caption: "mira" } },
    });
    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Lucía" }).click();
    const message = frame.locator(".msg.inbound", { hasText: "mira" });
    await message.waitFor();
    const image = message.locator("img.media");
    await image.waitFor();
    const width = await image.evaluate(async (img: HTMLImageElement) => {
      if (!img.complete) await new Promise((r) => img.addEventListener("load", r, { once: true }));
      return img.naturalWidth;
    });
    assert.equal(width, 2, "the browser decoded the PNG served by Parley");
    assert.match((await image.getAttribute("src"))!, new RegExp(`^${t.baseUrl}/media/${number.id}/${id}\\?`));
    await page.close();
  });

  it("renders WhatsApp formatting, locations, contact cards, replies and reactions", async () => {
    const from = "15550608000";
    const say = (message: Record<string, unknown>) =>
      simulateInbound(t.ctx, { phoneNumberId: number.phone_number_id, from, profileName: "Rita", message });
    const text = await say({
      type: "text",
      text: { body: "hola *mundo* y _tú_, ~no~ `code`: https://example.com/x <b>not html</b>" },
    });
    await say({
      type: "location",
      location: { latitude: 40.4168, longitude: -3.7038, name: "Sol", address: "Madrid" },
    });
    await say({
      type: "contacts",
      contacts: [{ name: { formatted_name: "Ana Pérez" }, phones: [{ phone: "+34 600 000 000" }] }],
    });
    await say({
      type: "interactive",
      interactive: { type: "button_reply", button_reply: { id: "yes", title: "Sí, confirmo" } },
    });
    await say({ type: "reaction", reaction: { message_id: text.wamid, emoji: "❤️" } });

    const token = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Rita" }).click();
    const greeting = frame.locator(".msg.inbound", { hasText: "hola" });
    await greeting.waitFor();
    assert.equal(await greeting.locator("b").textContent(), "mundo");
    assert.equal(await greeting.locator("i").textContent(), "tú");
    assert.equal(await greeting.locator("s").textContent(), "no");
    assert.equal(await greeting.locator("code").textContent(), "code");
    assert.equal(await greeting.locator("a").getAttribute("href"), "https://example.com/x");
    assert.match((await greeting.textContent())!, /<b>not html<\/b>/, "markup in a message stays text");
    assert.equal(await greeting.locator(".reactions").textContent(), "❤️", "the reaction sits on its message");
    assert.equal(await frame.locator(".msg", { hasText: /^❤️$/ }).count(), 0, "not as a message of its own");

    const place = frame.locator(".msg.inbound .location");
    assert.match((await place.textContent())!, /Sol, Madrid/);
    assert.match(
      (await place.locator("a").getAttribute("href"))!,
      /openstreetmap\.org\/\?mlat=40\.4168&mlon=-3\.7038/,
    );
    assert.match(
      (await frame.locator(".msg.inbound .contact").textContent())!,
      /Ana Pérez.*\+34 600 000 000/,
    );
    await frame.locator(".msg.inbound .reply", { hasText: "↩ Sí, confirmo" }).waitFor();
    await save(page, "inbox-message-types");
    await page.close();
  });

  it("speaks Spanish in dark mode when the embed says so", async () => {
    const token = await embedToken({ scope_type: "project", language: "es", default_mode: "dark" });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#search[placeholder='Buscar']").waitFor();
    const theme = await frame.locator("html").getAttribute("data-theme");
    assert.equal(theme, "dark");
    await page.close();
  });

  it("shows a phone_number embed only its own number's conversations", async () => {
    const other = await insertSandboxNumber(t, a.projectId);
    await simulateInbound(t.ctx, {
      phoneNumberId: other.phone_number_id,
      from: "15550609000",
      profileName: "Otro Número",
      message: { type: "text", text: { body: "desde otro número" } },
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550609100",
      profileName: "Mismo Número",
      message: { type: "text", text: { body: "desde este número" } },
    });
    const token = await embedToken({
      scope_type: "phone_number",
      scope_id: number.phone_number_id,
      allowed_origins: [hostOrigin],
    });
    // status=all and a search for the other contact: even asked for it, the page never has it.
    const page = await openHost(token, "?status=all");
    const frame = page.frameLocator("#inbox");
    await frame.locator("#conversations li", { hasText: "Mismo Número" }).waitFor();
    assert.equal(await frame.locator("#conversations li", { hasText: "Otro Número" }).count(), 0);
    await frame.locator("#search").fill("Otro");
    await frame.locator("#conversations li.note", { hasText: "No conversations" }).waitFor();
    assert.equal(await frame.locator("#conversations li:not(.note)").count(), 0);
    await save(page, "inbox-phone-number-scope");

    // The same check from the page's own origin, as a script in the inbox would make it.
    const otherConversation = (
      await t.api(a, {
        method: "GET",
        url: "/platform/v1/whatsapp/conversations?phone_number=15550609000",
      })
    ).json().data[0];
    const inbox = page.frames().find((f) => f.url().includes("/embed/"))!;
    const status = await inbox.evaluate(
      async ([id, bearer]) =>
        (
          await fetch(`/embed/api/conversations/${id}/messages`, {
            headers: { authorization: `Bearer ${bearer}` },
          })
        ).status,
      [otherConversation.id, token],
    );
    assert.equal(status, 404);
    await page.close();
  });

  it("shows the 401 view, with no data, for an expired and for a revoked token", async () => {
    const expiring = await t.api(a, {
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      payload: { inbox_embed: { scope_type: "project", allowed_origins: [hostOrigin] } },
    });
    const { id, token: expired } = expiring.json().data;
    await t.ctx.db.query(
      sql`UPDATE inbox_embeds SET expires_at = now() - interval '1 minute' WHERE id = ${id}`,
    );
    const revoked = await t.api(a, {
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      payload: { inbox_embed: { scope_type: "project", allowed_origins: [hostOrigin] } },
    });
    await t.api(a, { method: "DELETE", url: `/platform/v1/inbox_embeds/${revoked.json().data.id}` });

    for (const [name, token] of [
      ["expired", expired],
      ["revoked", revoked.json().data.token],
    ] as const) {
      const page = await openHost(token);
      const frame = page.frameLocator("#inbox");
      await frame.getByText("This inbox link is invalid, revoked or expired.").waitFor();
      assert.equal(await frame.locator("#conversations").count(), 0, `${name}: no inbox`);
      assert.equal(await frame.getByText("Maria").count(), 0, `${name}: no contact shown`);
      await save(page, `inbox-401-${name}`);
      await page.close();
    }
  });

  it("does not let a host outside allowed_origins call the embed API or open its WebSocket", async () => {
    // Not allowed: a host on another origin holding a valid token still gets nothing.
    const foreignToken = await embedToken({
      scope_type: "project",
      allowed_origins: ["https://app.example.com"],
    });
    // Allowed: the same calls from the listed host work, so the refusal above is the Origin check.
    const allowedToken = await embedToken({ scope_type: "project", allowed_origins: [hostOrigin] });
    const page = await browser.newPage();
    await page.goto(`${hostOrigin}/?src=about:blank`);
    const callFromHost = (bearer: string) =>
      page.evaluate(
        async ([base, token]) => {
          const api = await fetch(`${base}/embed/api/conversations`, {
            headers: { authorization: `Bearer ${token}` },
          }).then(
            async (r) => `status ${r.status}: ${(await r.json()).data?.length ?? "no data"}`,
            () => "refused",
          );
          const socket = await new Promise<string>((resolve) => {
            const ws = new WebSocket(`${base.replace("http", "ws")}/embed/api/ws?token=${token}`);
            ws.onmessage = () => resolve("open");
            ws.onerror = () => resolve("refused");
          });
          return { api, socket };
        },
        [t.baseUrl, bearer],
      );
    assert.deepEqual(await callFromHost(foreignToken), { api: "refused", socket: "refused" });
    const allowed = await callFromHost(allowedToken);
    assert.match(allowed.api, /^status 200: [1-9]/);
    assert.equal(allowed.socket, "open");
    await page.close();
  });

  it("refuses to be framed by a host that is not allowed", async () => {
    const token = await embedToken({ scope_type: "project", allowed_origins: ["https://app.example.com"] });
    const page = await openHost(token);
    await page.waitForTimeout(1000);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedList = frame ? await frame.locator("#conversations").count() : 0;
    assert.equal(framedList, 0, "the browser blocked the inbox inside a foreign host");
    await page.close();
  });
});
