import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateWebhookValue } from "../src/sandbox/inbound.ts";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { type ReceivedWebhook, startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// Meta's business-scoped user ids (BSUIDs) in inbound webhooks: contacts learn them, Meta's
// `user_changed_user_id` notices replace them, users known only by BSUID become contacts, and
// each change of a known contact's BSUID reaches the number's webhooks as
// whatsapp.contact.identity_changed.

// Event bodies are free-form JSON, read field by field.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let sink: WebhookSink;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1" } });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  sink = await startWebhookSink();
  const hook = await t.api(a, {
    method: "POST",
    url: `/platform/v1/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`,
    payload: {
      whatsapp_webhook: {
        url: sink.url,
        secret_key: "id-secret",
        events: ["whatsapp.contact.identity_changed", "whatsapp.message.received"],
      },
    },
  });
  assert.equal(hook.statusCode, 201, hook.body);
});
after(async () => {
  await t.close();
  await sink.close();
});

const get = (p: TestProject, url: string) => t.api(p, { method: "GET", url: `/platform/v1${url}` });
const changes = () =>
  sink.received.filter((r) => r.headers["x-webhook-event"] === "whatsapp.contact.identity_changed");
const receivedFor = (wamid: string) => (r: ReceivedWebhook[]) =>
  r.some((x) => (x.body as Json)?.message?.id === wamid);

let seq = 0;
/** Posts one inbound message (signed like the sandbox signs) with the given sender fields. */
async function inbound(message: Record<string, unknown>, contacts: Record<string, unknown>[] = []) {
  const wamid = `wamid.ID${Date.now()}x${seq++}`;
  const value = {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550100000", phone_number_id: number.phone_number_id },
    ...(contacts.length ? { contacts } : {}),
    messages: [
      {
        id: wamid,
        timestamp: String(Math.floor(Date.now() / 1000)),
        type: "text",
        text: { body: "hi" },
        ...message,
      },
    ],
  };
  const result = await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value });
  assert.equal(result.receiver_status, 200);
  return { wamid, value };
}

describe("contact identity (BSUIDs)", () => {
  it("learns a known contact's BSUID, then follows Meta's user_changed_user_id notice", async () => {
    const phone = "15550601000";
    const first = await inbound({ from: phone }, [{ profile: { name: "Ana" }, wa_id: phone }]);
    await sink.waitFor(receivedFor(first.wamid));
    assert.equal(changes().length, 0, "a new contact has no earlier identity");

    const learnt = await inbound({ from: phone, from_user_id: "US.1001" }, [
      {
        profile: { name: "Ana", username: "@ana" },
        wa_id: phone,
        user_id: "US.1001",
        parent_user_id: "US.ENT.77",
      },
    ]);
    await sink.waitFor(() => changes().length === 1);
    const event = changes()[0]!;
    assert.equal(event.headers["x-webhook-signature"], signWebhookBody("id-secret", event.raw));
    const body = event.body as Json;
    assert.deepEqual(body.previous, { business_scoped_user_id: null, parent_business_scoped_user_id: null });
    assert.equal(body.phone_number_id, number.phone_number_id);
    assert.equal(body.contact.wa_id, phone);
    assert.equal(body.contact.business_scoped_user_id, "US.1001");
    assert.equal(body.contact.parent_business_scoped_user_id, "US.ENT.77");
    assert.equal(body.contact.username, "@ana");
    assert.equal(body.contact.sandbox, true);
    assert.deepEqual(Object.keys(body.contact).sort(), [
      "business_scoped_user_id",
      "created_at",
      "customer_id",
      "display_name",
      "id",
      "metadata",
      "parent_business_scoped_user_id",
      "profile_name",
      "sandbox",
      "updated_at",
      "username",
      "wa_id",
    ]);

    // Meta retrying that webhook, and the next message with the same identity, change nothing.
    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: learnt.value });
    const same = await inbound({ from: phone, from_user_id: "US.1001" }, [
      { wa_id: phone, user_id: "US.1001" },
    ]);
    await sink.waitFor(receivedFor(same.wamid));

    // The BSUID is replaced (Meta: the user changed their number); the notice names the new one.
    await inbound({
      from: phone,
      from_user_id: "US.1001",
      type: "system",
      system: {
        body: "User Ana changed from US.1001 to US.2002",
        user_id: "US.2002",
        type: "user_changed_user_id",
      },
    });
    await sink.waitFor(() => changes().length === 2);
    assert.equal(changes().length, 2, "one event per change");
    const replaced = changes()[1]!.body as Json;
    assert.deepEqual(replaced.previous, {
      business_scoped_user_id: "US.1001",
      parent_business_scoped_user_id: "US.ENT.77",
    });
    assert.equal(replaced.contact.id, body.contact.id);
    assert.equal(replaced.contact.business_scoped_user_id, "US.2002");
    assert.equal(replaced.contact.parent_business_scoped_user_id, "US.ENT.77", "unchanged parent kept");

    const contact = (await get(a, "/whatsapp/contacts/US.2002")).json().data;
    assert.equal(contact.id, body.contact.id);
    assert.equal(contact.wa_id, phone);
    assert.equal((await get(a, "/whatsapp/contacts/US.1001")).statusCode, 404, "the old BSUID is gone");
    assert.equal((await get(b, "/whatsapp/contacts/US.2002")).statusCode, 404);
  });

  it("finds the contact of a notice without a phone number by the BSUID in its body", async () => {
    const phone = "15550602000";
    await inbound({ from: phone, from_user_id: "CO.3003" }, [{ wa_id: phone, user_id: "CO.3003" }]);
    const before = changes().length;
    await inbound({
      type: "system",
      system: {
        body: "User Luis changed from CO.3003 to CO.4004",
        user_id: "CO.4004",
        type: "user_changed_user_id",
      },
    });
    await sink.waitFor(() => changes().length === before + 1);
    const event = changes().at(-1)!.body as Json;
    assert.equal(event.previous.business_scoped_user_id, "CO.3003");
    assert.equal(event.contact.business_scoped_user_id, "CO.4004");
    assert.equal(event.contact.wa_id, phone);
  });

  it("keeps a user known only by BSUID as a contact without a phone number", async () => {
    const before = changes().length;
    const sent = await inbound({ from_user_id: "BR.5005" }, [
      { profile: { name: "Bia", username: "@bia" }, user_id: "BR.5005" },
    ]);
    await sink.waitFor(receivedFor(sent.wamid));
    const delivered = sink.received.find((x) => (x.body as Json)?.message?.id === sent.wamid)!.body as Json;
    assert.equal(delivered.conversation.phone_number, null);
    assert.equal(delivered.conversation.business_scoped_user_id, "BR.5005");
    assert.equal(delivered.conversation.username, "@bia");
    const contact = (await get(a, "/whatsapp/contacts/BR.5005")).json().data;
    assert.equal(contact.wa_id, null);
    assert.equal(contact.profile_name, "Bia");
    assert.equal(changes().length, before, "a new contact has no earlier identity");

    // Meta shares the number later: it is filled in, the BSUID stays, no identity event.
    const later = await inbound({ from: "15550603000", from_user_id: "BR.5005" }, [
      { wa_id: "15550603000", user_id: "BR.5005" },
    ]);
    await sink.waitFor(receivedFor(later.wamid));
    assert.equal((await get(a, "/whatsapp/contacts/BR.5005")).json().data.wa_id, "15550603000");
    assert.equal(changes().length, before);
  });

  it("accepts identity_changed as a webhook event", async () => {
    const hook = await t.api(a, {
      method: "POST",
      url: `/platform/v1/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`,
      payload: {
        whatsapp_webhook: {
          url: "https://example.com/hook",
          secret_key: "k",
          events: ["whatsapp.contact.identity_changed"],
        },
      },
    });
    assert.equal(hook.statusCode, 201, hook.body);
  });
});
