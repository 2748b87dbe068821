import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
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

  it("speaks Spanish in dark mode when the embed says so", async () => {
    const token = await embedToken({ scope_type: "project", language: "es", default_mode: "dark" });
    const page = await openHost(token);
    const frame = page.frameLocator("#inbox");
    await frame.locator("#search[placeholder='Buscar']").waitFor();
    const theme = await frame.locator("html").getAttribute("data-theme");
    assert.equal(theme, "dark");
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
