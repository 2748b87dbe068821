import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { insertMessage } from "../src/modules/messages/store.ts";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound, simulateWebhookValue } from "../src/sandbox/inbound.ts";
import { applyPendingStatuses } from "../src/whatsapp/ingest.ts";
import { signMetaPayload } from "../src/whatsapp/webhook-signature.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { type LoggedEvent, watchEvents } from "./support/event-log.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let events: (type: string) => Promise<LoggedEvent[]>;

before(async () => {
  t = await startTestApp({ listen: true });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  events = await watchEvents(t, a.projectId, number.phone_number_id);
});
after(() => t.close());

const get = (p: TestProject, url: string) => t.api(p, { method: "GET", url: `/platform/v1${url}` });

describe("the Meta webhook receiver", () => {
  it("turns a sandbox inbound message into a contact, a conversation and a message, once", async () => {
    const sent = await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "+1 555 010 2000",
      profileName: "Alicia",
      message: { type: "text", text: { body: "Hola!" } },
    });
    assert.equal(sent.receiver_status, 200);
    const list = await get(a, `/whatsapp/conversations?phone_number_id=${number.phone_number_id}`);
    assert.equal(list.statusCode, 200, list.body);
    const [conversation] = list.json().data;
    assert.equal(conversation.phone_number, "15550102000");
    assert.equal(conversation.phone_number_id, number.phone_number_id);
    assert.equal(conversation.status, "active");
    assert.equal(conversation.kapso.contact_name, "Alicia");
    assert.equal(conversation.kapso.messages_count, 1);
    assert.equal(conversation.kapso.last_message_text, "Hola!");
    assert.equal(conversation.kapso.last_message_id, sent.wamid);
    assert.ok(conversation.kapso.last_inbound_at);
    assert.deepEqual(Object.keys(list.json().paging).sort(), ["cursors", "next", "previous"]);

    const contact = await get(a, "/whatsapp/contacts/15550102000");
    assert.equal(contact.json().data.profile_name, "Alicia");
    assert.equal(
      (await get(b, "/whatsapp/contacts/15550102000")).statusCode,
      404,
      "other projects see nothing",
    );
    assert.equal((await get(b, `/whatsapp/conversations/${conversation.id}`)).statusCode, 404);

    const received = await events("whatsapp.message.received");
    assert.equal(received.length, 1);
    assert.equal(received[0]!.payload.message.id, sent.wamid);
    assert.equal(received[0]!.payload.message.text.body, "Hola!");
    assert.equal(received[0]!.payload.message.kapso.direction, "inbound");
    assert.equal(received[0]!.payload.is_new_conversation, true);
    assert.equal((await events("whatsapp.conversation.created")).length, 1);

    // Meta retries: the same wamid again changes nothing.
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550102000",
      message: { id: sent.wamid, type: "text", text: { body: "Hola!" } },
    });
    const again = (await get(a, `/whatsapp/conversations/${conversation.id}`)).json().data;
    assert.equal(again.kapso.messages_count, 1);
    assert.equal((await events("whatsapp.message.received")).length, 1);
  });

  it("renders every message type in the conversation summary", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ type: "image", image: { id: "m1", mime_type: "image/jpeg", caption: "look" } }, "look"],
      [{ type: "audio", audio: { id: "m2", mime_type: "audio/ogg" } }, "[audio]"],
      [
        { type: "location", location: { latitude: 1, longitude: 2, name: "Cafe", address: "Main St" } },
        "Cafe, Main St",
      ],
      [
        {
          type: "interactive",
          interactive: { type: "button_reply", button_reply: { id: "y", title: "Yes" } },
        },
        "Yes",
      ],
      [{ type: "reaction", reaction: { message_id: "wamid.x", emoji: "👍" } }, "👍"],
      [{ type: "contacts", contacts: [{ name: { formatted_name: "Bob" } }] }, "Bob"],
    ];
    for (const [message, text] of cases) {
      await simulateInbound(t.ctx, { phoneNumberId: number.phone_number_id, from: "15550103000", message });
      const [c] = (await get(a, "/whatsapp/conversations?phone_number=0103000")).json().data;
      assert.equal(c.kapso.last_message_text, text, JSON.stringify(message));
      assert.equal(c.kapso.last_message_type, message.type);
    }
  });

  it("lists a burst of messages sharing one timestamp in the order they were recorded", async () => {
    // Meta's timestamps have whole seconds: the order within one comes from the message ids.
    const timestamp = String(Math.floor(Date.now() / 1000));
    const bodies = ["one", "two", "three", "four", "five", "six"];
    for (const body of bodies) {
      await simulateInbound(t.ctx, {
        phoneNumberId: number.phone_number_id,
        from: "15550109900",
        message: { type: "text", text: { body }, timestamp },
      });
    }
    const history = await t.api(a, {
      method: "GET",
      url: `/meta/whatsapp/v24.0/${number.phone_number_id}/messages?limit=100`,
    });
    assert.equal(history.statusCode, 200, history.body);
    const burst = (history.json().data as { from?: string; text?: { body: string } }[])
      .filter((m) => m.from === "15550109900")
      .map((m) => m.text!.body);
    assert.deepEqual(burst, [...bodies].reverse(), "newest first, as recorded");
  });

  it("stores a webhook carrying several messages together, in order, opening one conversation", async () => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const bodies = ["first", "second", "third"];
    const sent = await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: {
        contacts: [{ profile: { name: "Batch" }, wa_id: "15550109800" }],
        messages: bodies.map((body, i) => ({
          from: "15550109800",
          id: `wamid.BATCH${i}${Date.now()}`,
          timestamp,
          type: "text",
          text: { body },
        })),
      },
    });
    assert.equal(sent.receiver_status, 200);
    const [conversation] = (await get(a, "/whatsapp/conversations?phone_number=0109800")).json().data;
    assert.equal(conversation.kapso.messages_count, 3);
    assert.equal(conversation.kapso.last_message_text, "third");
    const history = await t.api(a, {
      method: "GET",
      url: `/meta/whatsapp/v24.0/${number.phone_number_id}/messages?limit=100`,
    });
    const listed = (history.json().data as { from?: string; text?: { body: string } }[])
      .filter((m) => m.from === "15550109800")
      .map((m) => m.text!.body);
    assert.deepEqual(listed, [...bodies].reverse(), "newest first, in the webhook's order");
    const received = (await events("whatsapp.message.received")).filter(
      (e) => e.payload.conversation.id === conversation.id,
    );
    assert.deepEqual(
      received.map((e) => [e.payload.message.text.body, e.payload.is_new_conversation]),
      [
        ["first", true],
        ["second", false],
        ["third", false],
      ],
    );
    const created = (await events("whatsapp.conversation.created")).filter(
      (e) => e.payload.conversation.id === conversation.id,
    );
    assert.equal(created.length, 1);
  });

  it("refuses a bad signature and answers Meta's verification challenge", async () => {
    const body = JSON.stringify({ object: "whatsapp_business_account", entry: [] });
    const post = (signature: string) =>
      fetch(`${t.baseUrl}/webhooks/whatsapp`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": signature },
        body,
      });
    assert.equal((await post(signMetaPayload("wrong", body))).status, 401);
    assert.equal((await post("")).status, 401);
    const bad = await fetch(
      `${t.baseUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42`,
    );
    assert.equal(bad.status, 403);
  });

  it("applies statuses forwards only, keeps early ones until the send records its wamid", async () => {
    const [contact] = await t.ctx.db.query<{ id: string }>(
      sql`INSERT INTO contacts (project_id, wa_id) VALUES (${a.projectId}, '15550104000') RETURNING id`,
    );
    const [conv] = await t.ctx.db.query<{ id: string }>(sql`
      INSERT INTO conversations (project_id, phone_number_ref, contact_id)
      VALUES (${a.projectId}, ${number.id}, ${contact!.id}) RETURNING id`);
    const status = (wamid: string, s: string) => ({
      statuses: [
        {
          id: wamid,
          status: s,
          timestamp: String(Math.floor(Date.now() / 1000)),
          recipient_id: "15550104000",
        },
      ],
    });
    // A status for a wamid nobody recorded yet is kept…
    await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: status("wamid.early", "delivered"),
    });
    await t.ctx.db.transaction(async (tx) => {
      await insertMessage(tx, {
        projectId: a.projectId,
        phoneNumberRef: number.id,
        conversationId: conv!.id,
        contactId: contact!.id,
        wamid: "wamid.early",
        direction: "outbound",
        type: "text",
        content: { body: "hi" },
        text: "hi",
        context: null,
        status: "sent",
        sentAt: new Date().toISOString(),
      });
      // …and applied once the send records it.
      await applyPendingStatuses(t.ctx, tx, number, "wamid.early");
    });
    const row = async () =>
      (
        await t.ctx.db.query<{ status: string; statuses: unknown[] }>(
          sql`SELECT status, statuses FROM messages WHERE wamid = 'wamid.early'`,
        )
      )[0]!;
    assert.equal((await row()).status, "delivered");
    await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: status("wamid.early", "read"),
    });
    await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: status("wamid.early", "delivered"),
    });
    const final = await row();
    assert.equal(final.status, "read", "a late 'delivered' never moves a read message back");
    assert.equal(final.statuses.length, 3, "every raw status is kept");
    const types = (await events("whatsapp.message.read")).map((e) => e.payload.message.id);
    assert.deepEqual(types, ["wamid.early"]);
  });

  it("records marketing preference changes, ignoring stale ones", async () => {
    const pref = (value: string, timestamp: number) => ({
      user_preferences: [
        {
          wa_id: "15550105000",
          detail: "User requested",
          category: "marketing_messages",
          value,
          timestamp: String(timestamp),
        },
      ],
    });
    const now = Math.floor(Date.now() / 1000);
    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: pref("stop", now) });
    await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: pref("resume", now - 60),
    });
    const list = await get(a, "/whatsapp/contacts/15550105000/marketing_preferences");
    assert.equal(list.statusCode, 200, list.body);
    const [p] = list.json().data;
    assert.equal(p.status, "stopped");
    assert.equal(p.marketing_allowed, false);
    assert.equal(p.source, "meta_webhook");
    const one = await get(
      a,
      `/whatsapp/contacts/15550105000/marketing_preferences/${number.phone_number_id}`,
    );
    assert.equal(one.json().data.phone_number_id, number.phone_number_id);
    assert.equal(
      (await get(a, "/whatsapp/contacts/15550105000/marketing_preferences/999")).json().error,
      "WhatsApp configuration not found",
    );
    assert.equal(
      (await get(a, `/whatsapp/contacts/1999/marketing_preferences/${number.phone_number_id}`)).json().error,
      "WhatsApp contact not found",
    );
    const changed = await events("whatsapp.contact.marketing_preference_changed");
    assert.equal(changed.length, 1);
    assert.equal(changed[0]!.payload.marketing_preference.previous_status, null);
  });
});

describe("conversations API", () => {
  it("ends and reopens a conversation, with the ended event, and validates", async () => {
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550106000",
      message: { type: "text", text: { body: "x" } },
    });
    const [c] = (await get(a, "/whatsapp/conversations?phone_number=15550106000")).json().data;
    const patch = (status: unknown) =>
      t.api(a, {
        method: "PATCH",
        url: `/platform/v1/whatsapp/conversations/${c.id}`,
        payload: { whatsapp_conversation: { status } },
      });
    const ended = await patch("ended");
    assert.equal(ended.statusCode, 200);
    assert.equal(ended.json().data.status, "ended");
    assert.equal(
      (await get(a, "/whatsapp/conversations?status=ended&phone_number=15550106000")).json().data.length,
      1,
    );
    assert.equal((await events("whatsapp.conversation.ended")).length, 1);
    assert.equal((await patch("ended")).statusCode, 200, "ending twice is harmless");
    assert.equal((await events("whatsapp.conversation.ended")).length, 1);
    assert.equal((await patch("closed")).statusCode, 422);
    // A new message opens a new conversation; the old one cannot then be reopened.
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550106000",
      message: { type: "text", text: { body: "y" } },
    });
    const reopen = await patch("active");
    assert.equal(reopen.statusCode, 422);
    assert.match(reopen.json().error, /another active conversation/);
  });

  it("pages with cursors and validates filters", async () => {
    const first = await get(a, "/whatsapp/conversations?limit=2");
    assert.equal(first.json().data.length, 2);
    const next = first.json().paging.next;
    assert.ok(next);
    const second = await get(a, `/whatsapp/conversations?limit=2&after=${encodeURIComponent(next)}`);
    const ids = new Set([...first.json().data, ...second.json().data].map((c: { id: string }) => c.id));
    assert.equal(ids.size, first.json().data.length + second.json().data.length, "no overlap between pages");
    assert.equal((await get(a, "/whatsapp/conversations?after=garbage")).statusCode, 422);
    assert.equal((await get(a, "/whatsapp/conversations?limit=101")).statusCode, 422);
    const both = await get(
      a,
      "/whatsapp/conversations?unassigned=true&assigned_user_id=00000000-0000-4000-8000-000000000000",
    );
    assert.equal(both.statusCode, 422);
    assert.match(both.json().error, /unassigned/);
  });
});

describe("contacts API", () => {
  it("creates, finds by uuid or number, updates and erases contacts", async () => {
    const created = await t.api(a, {
      method: "POST",
      url: "/platform/v1/whatsapp/contacts",
      payload: { contact: { wa_id: "+1 555 0107000", profile_name: "Jane", metadata: { source: "api" } } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const contact = created.json().data;
    assert.equal(contact.wa_id, "15550107000");
    assert.equal((await get(a, `/whatsapp/contacts/${contact.id}`)).json().data.wa_id, "15550107000");
    assert.equal((await get(a, "/whatsapp/contacts/+15550107000")).json().data.id, contact.id);
    const dup = await t.api(a, {
      method: "POST",
      url: "/platform/v1/whatsapp/contacts",
      payload: { contact: { wa_id: "15550107000" } },
    });
    assert.equal(dup.statusCode, 409);
    const bad = await t.api(a, {
      method: "POST",
      url: "/platform/v1/whatsapp/contacts",
      payload: { contact: { wa_id: "call me" } },
    });
    assert.equal(bad.statusCode, 422);
    assert.match(bad.json().error, /contact.wa_id/);
    const patched = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/whatsapp/contacts/${contact.id}`,
      payload: { contact: { display_name: "Jane (VIP)", metadata: { segment: "vip" } } },
    });
    assert.equal(patched.json().data.display_name, "Jane (VIP)");
    assert.deepEqual(patched.json().data.metadata, { segment: "vip" });
    const badCustomer = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/whatsapp/contacts/${contact.id}`,
      payload: { contact: { customer_id: "00000000-0000-4000-8000-000000000000" } },
    });
    assert.equal(badCustomer.statusCode, 422);
    assert.equal(
      (await t.api(b, { method: "DELETE", url: `/platform/v1/whatsapp/contacts/${contact.id}` })).statusCode,
      404,
    );
    assert.equal(
      (await t.api(a, { method: "DELETE", url: `/platform/v1/whatsapp/contacts/${contact.id}` })).statusCode,
      204,
    );
    assert.equal((await get(a, `/whatsapp/contacts/${contact.id}`)).statusCode, 404);
  });

  it("erases a contact's webhook deliveries with it, and nobody else's", async () => {
    const [erased, kept] = ["15550109001", "15550109002"];
    for (const from of [erased, kept]) {
      await simulateInbound(t.ctx, {
        phoneNumberId: number.phone_number_id,
        from,
        message: { type: "text", text: { body: `secret of ${from}` } },
      });
      await simulateWebhookValue(t.ctx, {
        phoneNumberId: number.phone_number_id,
        value: {
          user_preferences: [
            {
              wa_id: from,
              category: "marketing_messages",
              value: "stop",
              timestamp: String(Math.floor(Date.now() / 1000)),
            },
          ],
        },
      });
    }
    const mentions = async (waId: string) =>
      (
        await t.ctx.db.query<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM webhook_deliveries WHERE project_id = ${a.projectId}
              AND strpos(payload::text, ${waId}) > 0`,
        )
      )[0]!.n;
    // Received, conversation created, preference changed.
    assert.equal(await mentions(erased), 3);
    assert.equal(await mentions(kept), 3);
    const response = await t.api(a, { method: "DELETE", url: `/platform/v1/whatsapp/contacts/${erased}` });
    assert.equal(response.statusCode, 204, response.body);
    assert.equal(await mentions(erased), 0);
    assert.equal(await mentions(kept), 3);
  });

  it("lists with cursor paging by default and legacy offset paging on request, within Kapso's limits", async () => {
    const cursor = await get(a, "/whatsapp/contacts?limit=1");
    assert.ok(cursor.json().paging);
    assert.equal(cursor.json().meta, undefined);
    await t.api(a, {
      method: "POST",
      url: "/platform/v1/whatsapp/contacts",
      payload: { contact: { wa_id: "15550108000", profile_name: "Rosalind" } },
    });
    const offset = await get(a, "/whatsapp/contacts?per_page=2&profile_name_contains=SALI");
    assert.equal(offset.json().meta.total_count, 1);
    assert.equal(offset.headers["x-total"], "1");
    const tooFar = await get(a, "/whatsapp/contacts?page=51&per_page=100");
    assert.equal(tooFar.statusCode, 400);
    assert.equal(tooFar.json().message, "legacy_offset_pagination_limit_exceeded");
    assert.equal(tooFar.json().requested_window, 5100);
  });
});
