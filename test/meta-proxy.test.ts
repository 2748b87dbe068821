import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import sql from "sql-template-tag";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound, simulateWebhookValue } from "../src/sandbox/inbound.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { graphError, kapsoClient } from "./support/kapso-client.ts";

// The official Kapso client, configured as Kapso users configure it, against a real Parley.

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let client: WhatsAppClient;

before(async () => {
  t = await startTestApp({
    listen: true,
    env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10", PARLEY_SEND_RATE_PER_SECOND: "1000" },
  });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId, { business_account_id: "900000000000001" });
  client = kapsoClient(t.baseUrl, a.apiKey);
});
after(() => t.close());

const sandboxSends = async (recipient: string) =>
  (
    await t.api(a, {
      method: "GET",
      url: `/sandbox/sends?phone_number_id=${number.phone_number_id}&recipient=${recipient}`,
    })
  ).json().data as unknown[];

const waitFor = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("condition not reached");
};

describe("the Meta proxy with @kapso/whatsapp-cloud-api", () => {
  it("replies inside the 24-hour window, stores the message and follows its statuses", async () => {
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550201000",
      profileName: "Ana",
      message: { type: "text", text: { body: "Hi" } },
    });
    const sent = await client.messages.sendText({
      phoneNumberId: number.phone_number_id,
      to: "15550201000",
      body: "Hello Ana",
    });
    const wamid = sent.messages[0]!.id;
    assert.match(wamid, /^wamid\./);
    assert.equal((await sandboxSends("15550201000")).length, 1);
    await waitFor(async () => {
      const [row] = await t.ctx.db.query<{ status: string }>(
        sql`SELECT status FROM messages WHERE wamid = ${wamid}`,
      );
      return row?.status === "read";
    });
    const conversations = await client.conversations.list({
      phoneNumberId: number.phone_number_id,
      phoneNumber: "15550201000",
    });
    const conversation = conversations.data[0]!;
    assert.equal(conversation.kapso?.messagesCount, 2);
    assert.equal(conversation.kapso?.lastMessageText, "Hello Ana");
    const history = await client.messages.listByConversation({
      phoneNumberId: number.phone_number_id,
      conversationId: conversation.id,
    });
    assert.equal(history.data.length, 2);
    const [latest, first] = history.data as { id: string; kapso?: { direction?: string; status?: string } }[];
    assert.equal(latest!.id, wamid, "newest first");
    assert.equal(latest!.kapso?.direction, "outbound");
    assert.equal(latest!.kapso?.status, "read");
    assert.equal(first!.kapso?.direction, "inbound");
    const marked = await client.messages.markRead({
      phoneNumberId: number.phone_number_id,
      messageId: history.data[1]!.id,
    });
    assert.equal(marked.success, true);
    const contact = await client.contacts.get({ phoneNumberId: number.phone_number_id, waId: "15550201000" });
    assert.equal(contact.profileName, "Ana");
  });

  it("refuses free-form messages outside the window with Meta's 131047, and sends templates", async () => {
    const error = await graphError(
      client.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550202000", body: "cold" }),
    );
    assert.equal(error.code, 131047);
    assert.equal((await sandboxSends("15550202000")).length, 0);
    const sent = await client.messages.sendTemplate({
      phoneNumberId: number.phone_number_id,
      to: "15550202000",
      template: { name: "hello_world", language: { code: "en_US" } },
    });
    assert.ok(sent.messages[0]!.id);
    assert.equal((await sandboxSends("15550202000")).length, 1);
  });

  it("opens the window from when the contact wrote, in any conversation with the number", async () => {
    const hoursAgo = (h: number) => String(Math.floor((Date.now() - h * 3_600_000) / 1000));
    for (const [from, hours] of [
      ["15550205001", 25],
      ["15550205002", 23],
      ["15550205003", 1],
    ] as const) {
      await simulateInbound(t.ctx, {
        phoneNumberId: number.phone_number_id,
        from,
        message: { type: "text", text: { body: "Hi" }, timestamp: hoursAgo(hours) },
      });
    }
    // The window outlives the conversation the message arrived in.
    await t.ctx.db.query(sql`
      UPDATE conversations SET status = 'ended', ended_at = now()
      WHERE contact_id = (SELECT id FROM contacts WHERE project_id = ${a.projectId} AND wa_id = '15550205003')`);
    const outcomes = await Promise.allSettled(
      ["15550205001", "15550205002", "15550205003"].map((to) =>
        client.messages.sendText({ phoneNumberId: number.phone_number_id, to, body: "Hello" }),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["rejected", "fulfilled", "fulfilled"],
    );
    assert.equal(
      (await graphError(Promise.reject((outcomes[0] as PromiseRejectedResult).reason))).code,
      131047,
    );
  });

  it("checks the window of concurrent free-form sends contact by contact", async () => {
    const warm = ["15550204001", "15550204003"];
    for (const from of warm) {
      await simulateInbound(t.ctx, {
        phoneNumberId: number.phone_number_id,
        from,
        message: { type: "text", text: { body: "Hi" } },
      });
    }
    const to = ["15550204001", "15550204002", "15550204003", "15550204004"];
    const outcomes = await Promise.allSettled(
      to.map((recipient) =>
        client.messages.sendText({ phoneNumberId: number.phone_number_id, to: recipient, body: "Hello" }),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["fulfilled", "rejected", "fulfilled", "rejected"],
    );
    for (const o of outcomes) {
      if (o.status === "rejected") assert.equal((await graphError(Promise.reject(o.reason))).code, 131047);
    }
  });

  it("refuses marketing templates to a contact who stopped marketing messages", async () => {
    await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: {
        user_preferences: [
          {
            wa_id: "15550203000",
            category: "marketing_messages",
            value: "stop",
            timestamp: String(Math.floor(Date.now() / 1000)),
          },
        ],
      },
    });
    const response = await fetch(`${t.baseUrl}/meta/whatsapp/v24.0/${number.phone_number_id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": a.apiKey },
      body: JSON.stringify({
        messaging_product: "whatsapp",
        to: "15550203000",
        type: "template",
        template: {
          name: "seasonal_promotion",
          language: { code: "en_US" },
          components: [
            {
              type: "body",
              parameters: [
                { type: "text", text: "a" },
                { type: "text", text: "b" },
              ],
            },
          ],
        },
      }),
    });
    assert.equal(response.status, 422);
    assert.equal((await response.json()).error.code, "marketing_preference_stopped");
    const utility = await client.messages.sendTemplate({
      phoneNumberId: number.phone_number_id,
      to: "15550203000",
      template: { name: "hello_world", language: { code: "en_US" } },
    });
    assert.ok(utility.messages[0]!.id, "utility templates still go out");
  });

  it("sends once per Idempotency-Key, also for concurrent retries", async () => {
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550204000",
      message: { type: "text", text: { body: "Hi" } },
    });
    const send = () =>
      fetch(`${t.baseUrl}/meta/whatsapp/v24.0/${number.phone_number_id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": a.apiKey, "idempotency-key": "order-42" },
        body: JSON.stringify({
          messaging_product: "whatsapp",
          to: "15550204000",
          type: "text",
          text: { body: "Your order" },
        }),
      });
    const first = await (await send()).json();
    const again = await (await send()).json();
    assert.equal(again.messages[0].id, first.messages[0].id);
    const concurrent = await Promise.all([send(), send(), send()]);
    for (const r of concurrent) assert.ok(r.status === 200, String(r.status));
    assert.equal((await sandboxSends("15550204000")).length, 1, "the sandbox received exactly one message");
  });

  it("answers Meta's errors: bad key, another project's number, bad body, unsupported calls, injected failures", async () => {
    const stranger = kapsoClient(t.baseUrl, "prk_wrong");
    const auth = await graphError(
      stranger.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550205000", body: "x" }),
    );
    assert.equal(auth.httpStatus, 401);
    assert.equal(auth.code, 190);
    const other = kapsoClient(t.baseUrl, b.apiKey);
    const unknown = await graphError(
      other.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550205000", body: "x" }),
    );
    assert.equal(unknown.code, 100);
    assert.equal(unknown.errorSubcode, 33);
    const bad = await graphError(
      client.messages.sendRaw({
        phoneNumberId: number.phone_number_id,
        payload: { messaging_product: "whatsapp", to: "15550205000", type: "text", text: {} },
      }),
    );
    assert.equal(bad.httpStatus, 400);
    assert.match(JSON.stringify(bad.raw ?? bad.details ?? bad.message), /text\.body/);
    const calls = await fetch(`${t.baseUrl}/meta/whatsapp/v24.0/${number.phone_number_id}/calls`, {
      headers: { "x-api-key": a.apiKey },
    });
    assert.equal(calls.status, 400);
    assert.equal((await calls.json()).error.code, 3);

    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550206000",
      message: { type: "text", text: { body: "Hi" } },
    });
    const injected = await t.api(a, {
      method: "POST",
      url: "/sandbox/failures",
      payload: {
        phone_number_id: number.phone_number_id,
        operation: "send",
        mode: "sync",
        error: { code: 131026, message: "Message undeliverable" },
        remaining: 1,
      },
    });
    assert.equal(injected.statusCode, 201, injected.body);
    const failed = await graphError(
      client.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550206000", body: "x" }),
    );
    assert.equal(failed.code, 131026);
    const [row] = await t.ctx.db.query<{ status: string }>(
      sql`SELECT m.status FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE c.wa_id = '15550206000' AND m.direction = 'outbound'`,
    );
    assert.equal(row!.status, "failed", "the failed send is kept, marked failed");
  });

  it("lists templates of the number's WABA only for its project", async () => {
    const templates = await client.templates.list({ businessAccountId: "900000000000001" });
    assert.ok(templates.data.some((tpl) => tpl.name === "hello_world"));
    const other = kapsoClient(t.baseUrl, b.apiKey);
    const refused = await graphError(other.templates.list({ businessAccountId: "900000000000001" }));
    assert.equal(refused.code, 100);
  });
});
