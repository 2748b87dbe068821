import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateWebhookValue } from "../src/sandbox/inbound.ts";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { type ReceivedWebhook, startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// Meta's business-scoped user ids (BSUIDs) in inbound webhooks: contacts learn them, Meta's
// `user_changed_user_id` notices replace them, `user_changed_number` notices move the new number
// (and BSUID) onto the same contact, users known only by BSUID become contacts, and each change
// of a known contact's identity reaches the number's webhooks as whatsapp.contact.identity_changed.

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

/** The conversation a delivered whatsapp.message.received put message `wamid` in. */
const conversationOf = (wamid: string) =>
  (sink.received.find((x) => (x.body as Json)?.message?.id === wamid)!.body as Json).conversation.id;

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

/**
 * Posts a Meta system notice (`system`, with the sender fields `from`) and answers it with the
 * one `whatsapp.contact.identity_changed` event it makes (`changesAfter`: how many there are then).
 */
async function systemNotice(system: Record<string, unknown>, from: Record<string, unknown> = {}) {
  const before = changes().length;
  const notice = await inbound({ ...from, type: "system", system });
  await sink.waitFor(() => changes().length === before + 1);
  return { notice, event: changes().at(-1)!.body as Json, changesAfter: before + 1 };
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
    const { event } = await systemNotice({
      body: "User Luis changed from CO.3003 to CO.4004",
      user_id: "CO.4004",
      type: "user_changed_user_id",
    });
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

  it("follows a user_changed_user_id notice by its previous_user_id, once", async () => {
    const phone = "15550604000";
    const first = await inbound({ from: phone, from_user_id: "MX.6006", from_parent_user_id: "MX.ENT.60" }, [
      { wa_id: phone, user_id: "MX.6006", parent_user_id: "MX.ENT.60" },
    ]);
    await sink.waitFor(receivedFor(first.wamid));
    // No sender and a body Parley cannot read: only the notice's previous ids name the contact.
    const { notice, event, changesAfter } = await systemNotice({
      body: "User's business-scoped user ID changed",
      user_id: "MX.7007",
      parent_user_id: "MX.ENT.70",
      previous_user_id: "MX.6006",
      previous_parent_user_id: "MX.ENT.60",
      type: "user_changed_user_id",
    });
    await sink.waitFor(receivedFor(notice.wamid));
    assert.deepEqual(event.previous, {
      business_scoped_user_id: "MX.6006",
      parent_business_scoped_user_id: "MX.ENT.60",
    });
    assert.equal(event.contact.business_scoped_user_id, "MX.7007");
    assert.equal(event.contact.parent_business_scoped_user_id, "MX.ENT.70");
    assert.equal(event.contact.wa_id, phone);
    assert.equal(
      conversationOf(notice.wamid),
      conversationOf(first.wamid),
      "the notice is stored in the contact's conversation",
    );

    // Meta retrying the notice changes nothing.
    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: notice.value });
    const next = await inbound({ from: phone, from_user_id: "MX.7007" }, [
      { wa_id: phone, user_id: "MX.7007" },
    ]);
    await sink.waitFor(receivedFor(next.wamid));
    assert.equal(changes().length, changesAfter);
    assert.equal(conversationOf(next.wamid), conversationOf(first.wamid));
    assert.equal((await get(a, "/whatsapp/contacts/MX.7007")).json().data.id, event.contact.id);
    assert.equal((await get(a, "/whatsapp/contacts/MX.6006")).statusCode, 404);
  });

  it("finds the contact of a notice by its previous_parent_user_id alone", async () => {
    const phone = "15550605000";
    await inbound({ from: phone, from_user_id: "AR.8008", from_parent_user_id: "AR.ENT.80" });
    const { event } = await systemNotice({
      user_id: "AR.9009",
      previous_parent_user_id: "AR.ENT.80",
      type: "user_changed_user_id",
    });
    assert.equal(event.previous.business_scoped_user_id, "AR.8008");
    assert.equal(event.contact.business_scoped_user_id, "AR.9009");
    assert.equal(event.contact.parent_business_scoped_user_id, "AR.ENT.80", "no new parent given: kept");
    assert.equal(event.contact.wa_id, phone);
  });

  it("moves a user_changed_number notice's new number onto the same contact, once", async () => {
    const oldPhone = "15550606000";
    const newPhone = "15550606999";
    const first = await inbound({ from: oldPhone, from_user_id: "CL.1101" }, [
      { profile: { name: "Eva" }, wa_id: oldPhone, user_id: "CL.1101", parent_user_id: "CL.ENT.11" },
    ]);
    await sink.waitFor(receivedFor(first.wamid));
    const contactId = (await get(a, `/whatsapp/contacts/${oldPhone}`)).json().data.id;
    const { notice, event, changesAfter } = await systemNotice(
      {
        body: `User Eva changed from ${oldPhone} to ${newPhone}`,
        wa_id: newPhone,
        user_id: "CL.1202",
        previous_user_id: "CL.1101",
        previous_parent_user_id: "CL.ENT.11",
        type: "user_changed_number",
      },
      { from: oldPhone },
    );
    await sink.waitFor(receivedFor(notice.wamid));
    assert.deepEqual(event.previous, {
      business_scoped_user_id: "CL.1101",
      parent_business_scoped_user_id: "CL.ENT.11",
      wa_id: oldPhone,
    });
    assert.equal(event.contact.id, contactId);
    assert.equal(event.contact.wa_id, newPhone);
    assert.equal(event.contact.business_scoped_user_id, "CL.1202");
    assert.equal(event.contact.parent_business_scoped_user_id, "CL.ENT.11");
    assert.equal(conversationOf(notice.wamid), conversationOf(first.wamid), "one conversation");

    const moved = (await get(a, `/whatsapp/contacts/${newPhone}`)).json().data;
    assert.equal(moved.id, contactId);
    assert.equal(moved.profile_name, "Eva");
    assert.equal(
      (await get(a, `/whatsapp/contacts/${oldPhone}`)).statusCode,
      404,
      "no contact kept the old number",
    );
    assert.equal((await get(b, `/whatsapp/contacts/${newPhone}`)).statusCode, 404);

    // Meta retrying the notice changes nothing; the next message from the new number continues
    // the same conversation.
    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: notice.value });
    const next = await inbound({ from: newPhone, from_user_id: "CL.1202" }, [
      { wa_id: newPhone, user_id: "CL.1202" },
    ]);
    await sink.waitFor(receivedFor(next.wamid));
    assert.equal(changes().length, changesAfter);
    assert.equal(conversationOf(next.wamid), conversationOf(first.wamid));
    assert.equal((await get(a, `/whatsapp/contacts/${oldPhone}`)).statusCode, 404);
  });

  it("moves the number of a notice without BSUIDs by its sender, and a replay finds it moved", async () => {
    const oldPhone = "15550607000";
    const newPhone = "15550607999";
    const first = await inbound({ from: oldPhone });
    await sink.waitFor(receivedFor(first.wamid));
    const contactId = (await get(a, `/whatsapp/contacts/${oldPhone}`)).json().data.id;
    const { notice, event, changesAfter } = await systemNotice(
      {
        body: `User Rui changed from ${oldPhone} to ${newPhone}`,
        wa_id: newPhone,
        type: "user_changed_number",
      },
      { from: oldPhone },
    );
    assert.deepEqual(event.previous, {
      business_scoped_user_id: null,
      parent_business_scoped_user_id: null,
      wa_id: oldPhone,
    });
    assert.equal(event.contact.wa_id, newPhone);

    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: notice.value });
    const next = await inbound({ from: newPhone });
    await sink.waitFor(receivedFor(next.wamid));
    assert.equal(changes().length, changesAfter);
    assert.equal(
      (await get(a, `/whatsapp/contacts/${oldPhone}`)).statusCode,
      404,
      "the replay made no new contact",
    );
    assert.equal((await get(a, `/whatsapp/contacts/${newPhone}`)).json().data.id, contactId);
    assert.equal(conversationOf(next.wamid), conversationOf(first.wamid));
  });

  it("keeps the old number when another contact holds the new one", async () => {
    const oldPhone = "15550608000";
    const takenPhone = "15550608999";
    const mover = await inbound({ from: oldPhone, from_user_id: "PE.1301" }, [
      { wa_id: oldPhone, user_id: "PE.1301" },
    ]);
    const holder = await inbound({ from: takenPhone }, [{ profile: { name: "Other" }, wa_id: takenPhone }]);
    await sink.waitFor(receivedFor(mover.wamid));
    await sink.waitFor(receivedFor(holder.wamid));
    const holderBefore = (await get(a, `/whatsapp/contacts/${takenPhone}`)).json().data;
    const { notice, event, changesAfter } = await systemNotice(
      {
        body: `User Paz changed from ${oldPhone} to ${takenPhone}`,
        wa_id: takenPhone,
        user_id: "PE.1402",
        previous_user_id: "PE.1301",
        type: "user_changed_number",
      },
      { from: oldPhone },
    );
    await sink.waitFor(receivedFor(notice.wamid));
    // The BSUID still changes; the number stays, so `previous` has no wa_id.
    assert.deepEqual(event.previous, {
      business_scoped_user_id: "PE.1301",
      parent_business_scoped_user_id: null,
    });
    assert.equal(event.contact.wa_id, oldPhone);
    assert.equal(event.contact.business_scoped_user_id, "PE.1402");
    assert.equal(conversationOf(notice.wamid), conversationOf(mover.wamid));
    assert.deepEqual(
      (await get(a, `/whatsapp/contacts/${takenPhone}`)).json().data,
      holderBefore,
      "holder untouched",
    );
    assert.equal((await get(a, `/whatsapp/contacts/${oldPhone}`)).json().data.id, event.contact.id);

    await simulateWebhookValue(t.ctx, { phoneNumberId: number.phone_number_id, value: notice.value });
    const next = await inbound({ from: oldPhone, from_user_id: "PE.1402" });
    await sink.waitFor(receivedFor(next.wamid));
    assert.equal(changes().length, changesAfter);
  });

  it("resolves the senders of one webhook in order, around a number change among them", async () => {
    const oldPhone = "15550609000";
    const newPhone = "15550609999";
    const otherPhone = "15550609500";
    const before = changes().length;
    const message = (id: string, from: string, extra: Record<string, unknown> = {}) => ({
      id: `wamid.ID${Date.now()}${id}`,
      from,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: "text",
      text: { body: id },
      ...extra,
    });
    // New sender, her number change, her first message from the new number, and another new
    // sender writing twice: the message from the new number must find her moved contact.
    const messages = [
      message("first", oldPhone),
      message("notice", oldPhone, {
        type: "system",
        system: {
          body: `User Ana changed from ${oldPhone} to ${newPhone}`,
          wa_id: newPhone,
          type: "user_changed_number",
        },
      }),
      message("moved", newPhone),
      message("other-1", otherPhone),
      message("other-2", otherPhone),
    ];
    const result = await simulateWebhookValue(t.ctx, {
      phoneNumberId: number.phone_number_id,
      value: {
        messaging_product: "whatsapp",
        metadata: { display_phone_number: "15550100000", phone_number_id: number.phone_number_id },
        contacts: [
          { profile: { name: "Ana" }, wa_id: oldPhone },
          { profile: { name: "Ana" }, wa_id: newPhone },
          { profile: { name: "Bea" }, wa_id: otherPhone },
        ],
        messages,
      },
    });
    assert.equal(result.receiver_status, 200);
    for (const m of messages) await sink.waitFor(receivedFor(m.id));
    await sink.waitFor(() => changes().length === before + 1);
    assert.equal((changes().at(-1)!.body as Json).contact.wa_id, newPhone);
    assert.equal((await get(a, `/whatsapp/contacts/${oldPhone}`)).statusCode, 404, "her number moved");
    const ana = (await get(a, `/whatsapp/contacts/${newPhone}`)).json().data;
    assert.equal(ana.profile_name, "Ana");
    assert.equal(conversationOf(messages[2]!.id), conversationOf(messages[0]!.id));
    const bea = (await get(a, `/whatsapp/contacts/${otherPhone}`)).json().data;
    assert.equal(bea.profile_name, "Bea");
    assert.notEqual(bea.id, ana.id);
    assert.equal(conversationOf(messages[4]!.id), conversationOf(messages[3]!.id));
    assert.notEqual(conversationOf(messages[3]!.id), conversationOf(messages[0]!.id));
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
