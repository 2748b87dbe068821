import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { startServer, tempDir } from "./support/process.ts";

// The embedded inbox's WebSocket over real sockets: the checks before the upgrade, scoped
// pushes, catching up after a lost connection, and pushes caused by another Parley process.

let t: TestApp;
let a: TestProject;
let numberOne: PhoneNumberRow;
let numberTwo: PhoneNumberRow;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10" } });
  a = await t.createProject("A");
  numberOne = await insertSandboxNumber(t, a.projectId);
  numberTwo = await insertSandboxNumber(t, a.projectId);
});
after(() => t.close());

async function embed(inbox_embed: Record<string, unknown>) {
  const response = await t.api(a, {
    method: "POST",
    url: "/platform/v1/inbox_embeds",
    payload: { inbox_embed },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data as { id: string; token: string };
}

const wsUrl = (token: string) => `${t.baseUrl.replace("http", "ws")}/embed/api/ws?token=${token}`;

/** A raw upgrade request: the HTTP status the server answers with, or 101. */
function handshake(url: string, origin?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: the server closes the socket of a refused upgrade.
    const request = http.request(url.replace("ws", "http"), {
      agent: false,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        ...(origin ? { origin } : {}),
      },
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode!, body: "" });
    });
    request.on("response", (response) => {
      let body = "";
      response.on("data", (d) => (body += d));
      response.on("end", () => resolve({ status: response.statusCode!, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

interface Push {
  type: string;
  at: string;
  event?: string;
  conversation?: { id: string; phone_number: string; unread_count: number };
  message?: { id: string; kapso: { content: string; direction: string } } | null;
}

/** A browser-like WebSocket client that records what it hears. */
async function listen(token: string, origin = t.baseUrl) {
  const socket = new WebSocket(wsUrl(token), { headers: { origin } } as never);
  const pushes: Push[] = [];
  socket.addEventListener("message", (e) => pushes.push(JSON.parse(String(e.data))));
  const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
  await waitFor(() => pushes.some((p) => p.type === "ready"), "ready");
  return { socket, pushes, closed };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const said = (pushes: Push[], text: string) =>
  pushes.find((p) => p.type === "event" && p.message?.kapso.content === text);

describe("the inbox WebSocket", () => {
  it("refuses a bad token with 401 and a foreign Origin with 403 before upgrading", async () => {
    const e = await embed({ scope_type: "project", allowed_origins: ["https://*.example.com"] });
    assert.equal((await handshake(wsUrl("nope"))).status, 401);
    const foreign = await handshake(wsUrl(e.token), "https://evil.test");
    assert.equal(foreign.status, 403);
    assert.match(foreign.body, /Origin https:\/\/evil\.test is not allowed/);
    assert.equal((await handshake(wsUrl(e.token), "https://app.example.com")).status, 101);
    await t.api(a, { method: "DELETE", url: `/platform/v1/inbox_embeds/${e.id}` });
    assert.equal((await handshake(wsUrl(e.token), "https://app.example.com")).status, 401, "revoked");
    const plain = await t.request({ method: "GET", url: `/embed/api/ws?token=${e.token}` });
    assert.equal(plain.statusCode, 401);
    const open = await embed({ scope_type: "project" });
    assert.equal(
      (await t.request({ method: "GET", url: `/embed/api/ws?token=${open.token}` })).statusCode,
      426,
    );
  });

  it("pushes new messages, statuses and conversation changes inside the embed's scope only", async () => {
    const all = await listen((await embed({ scope_type: "project" })).token);
    const two = await listen(
      (await embed({ scope_type: "phone_number", scope_id: numberTwo.phone_number_id })).token,
    );
    await simulateInbound(t.ctx, {
      phoneNumberId: numberOne.phone_number_id,
      from: "15550701000",
      profileName: "Uno",
      message: { type: "text", text: { body: "live on one" } },
    });
    await waitFor(() => !!said(all.pushes, "live on one"), "the message on the project socket");
    const pushed = said(all.pushes, "live on one")!;
    assert.equal(pushed.event, "whatsapp.message.received");
    assert.equal(pushed.conversation!.phone_number, "15550701000");
    assert.equal(pushed.conversation!.unread_count, 1);
    assert.ok(
      all.pushes.some((p) => p.event === "whatsapp.conversation.created"),
      "a new conversation is announced",
    );

    await simulateInbound(t.ctx, {
      phoneNumberId: numberTwo.phone_number_id,
      from: "15550702000",
      message: { type: "text", text: { body: "live on two" } },
    });
    await waitFor(() => !!said(two.pushes, "live on two"), "the message on the number socket");
    assert.equal(said(two.pushes, "live on one"), undefined, "another number's message never reaches it");

    // A reply through the embed API: stored at once, then Meta's statuses follow.
    const conversation = pushed.conversation!;
    const token = (await embed({ scope_type: "project" })).token;
    const sent = await t.request({
      method: "POST",
      url: `/embed/api/conversations/${conversation.id}/messages`,
      headers: { authorization: `Bearer ${token}` },
      payload: { text: "a reply" },
    });
    assert.equal(sent.statusCode, 201, sent.body);
    await waitFor(() => all.pushes.some((p) => p.event === "inbox.message.stored"), "the stored reply");
    await waitFor(() => all.pushes.some((p) => p.event === "whatsapp.message.read"), "the read status");
    const order = all.pushes.filter((p) => p.event?.startsWith("whatsapp.message.")).map((p) => p.event);
    assert.deepEqual(
      order.filter((e) => e !== "whatsapp.message.received"),
      ["whatsapp.message.sent", "whatsapp.message.delivered", "whatsapp.message.read"],
      "statuses arrive in order",
    );

    // Ending and reopening through the Platform API.
    for (const status of ["ended", "active"]) {
      const r = await t.api(a, {
        method: "PATCH",
        url: `/platform/v1/whatsapp/conversations/${conversation.id}`,
        payload: { whatsapp_conversation: { status } },
      });
      assert.equal(r.statusCode, 200, r.body);
    }
    await waitFor(() => all.pushes.some((p) => p.event === "inbox.conversation.reopened"), "reopened");
    assert.ok(all.pushes.some((p) => p.event === "whatsapp.conversation.ended"));
    all.socket.close();
    two.socket.close();
  });

  it("lets a page catch up on what changed while it was disconnected", async () => {
    const token = (await embed({ scope_type: "project" })).token;
    const first = await listen(token);
    const since = first.pushes.at(-1)!.at;
    first.socket.close();
    await first.closed;
    await simulateInbound(t.ctx, {
      phoneNumberId: numberOne.phone_number_id,
      from: "15550703000",
      profileName: "Missed",
      message: { type: "text", text: { body: "while you were away" } },
    });
    const changed = await t.request({
      method: "GET",
      url: `/embed/api/conversations?status=all&updated_after=${encodeURIComponent(since)}`,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(changed.statusCode, 200, changed.body);
    const phones = changed.json().data.map((c: { phone_number: string }) => c.phone_number);
    assert.ok(phones.includes("15550703000"), JSON.stringify(phones));
    const later = new Date(Date.now() + 60_000).toISOString();
    const none = await t.request({
      method: "GET",
      url: `/embed/api/conversations?status=all&updated_after=${encodeURIComponent(later)}`,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.deepEqual(none.json().data, []);
    const bad = await t.request({
      method: "GET",
      url: "/embed/api/conversations?updated_after=yesterday",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(bad.statusCode, 422);
    assert.match(bad.json().error, /updated_after/);
  });

  it("pushes what another Parley process committed", {
    skip: !process.env.TEST_DATABASE_URL,
  }, async (ctx) => {
    const url = t.ctx.db.connectionString;
    if (!url) return ctx.skip("embedded PGlite admits one process: runs on PostgreSQL");
    const other = await startServer({
      DATABASE_URL: url,
      PARLEY_DATA_DIR: tempDir(),
      PARLEY_SANDBOX: "true",
    });
    try {
      const live = await listen((await embed({ scope_type: "project" })).token);
      const response = await fetch(`${other.url}/sandbox/inbound`, {
        method: "POST",
        headers: { "x-api-key": a.apiKey, "content-type": "application/json" },
        body: JSON.stringify({
          phone_number_id: numberOne.phone_number_id,
          from: "15550704000",
          text: "from the other process",
        }),
      });
      assert.equal(response.status, 200, await response.text());
      await waitFor(() => !!said(live.pushes, "from the other process"), "the other process's message");
      live.socket.close();
    } finally {
      await other.stop();
    }
  });
});
