import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildKapsoFields, type WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber, PNG } from "./support/fixtures.ts";
import { graphError, kapsoClient } from "./support/kapso-client.ts";

// Kapso's history reads on the Meta proxy — one message, `fields=kapso(…)` selection and
// `kapso.media_data` — through the official client, as Kapso users call them.

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let otherNumber: PhoneNumberRow;
let client: WhatsAppClient;
let base: string;

before(async () => {
  t = await startTestApp({
    listen: true,
    env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10", PARLEY_SEND_RATE_PER_SECOND: "1000" },
  });
  // URLs Parley hands out must reach this test's server.
  t.ctx.config.publicUrl = t.baseUrl;
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId, { business_account_id: "900000000000011" });
  otherNumber = await insertSandboxNumber(t, a.projectId, { business_account_id: "900000000000011" });
  client = kapsoClient(t.baseUrl, a.apiKey);
  base = `${t.baseUrl}/meta/whatsapp/v24.0/${number.phone_number_id}`;
});
after(() => t.close());

const get = (url: string, apiKey = a.apiKey) => fetch(url, { headers: { "x-api-key": apiKey } });

/** A contact who wrote a moment ago, so free-form replies are inside the 24-hour window. */
async function contactWrites(
  from: string,
  message: Record<string, unknown> = { type: "text", text: { body: "Hi" } },
) {
  return simulateInbound(t.ctx, { phoneNumberId: number.phone_number_id, from, profileName: "Bea", message });
}

describe("one history message through the Meta proxy", () => {
  it("answers {data: message} by wamid, which the client unwraps", async () => {
    const inbound = await contactWrites("15550301000");
    const sent = await client.messages.sendText({
      phoneNumberId: number.phone_number_id,
      to: "15550301000",
      body: "Hello Bea",
    });
    const wamid = sent.messages[0]!.id;

    const raw = await (await get(`${base}/messages/${wamid}`)).json();
    assert.equal(raw.data.id, wamid, "wrapped in data on the wire");

    const message = await client.messages.get({ phoneNumberId: number.phone_number_id, messageId: wamid });
    assert.equal(message.id, wamid);
    assert.equal(message.type, "text");
    assert.equal(message.to, "15550301000");
    assert.deepEqual(message.text, { body: "Hello Bea" });
    assert.equal(message.kapso?.direction, "outbound");
    assert.equal(message.kapso?.phoneNumber, "15550301000");
    assert.equal(message.kapso?.contactName, "Bea");
    assert.equal(message.kapso?.content, "Hello Bea");
    assert.equal(message.kapso?.hasMedia, false);
    assert.equal(message.kapso?.mediaData, undefined, "no media_data on a text message");
    assert.equal(message.kapso?.messageTypeData, undefined, "not in the default set");

    const received = await client.messages.get({
      phoneNumberId: number.phone_number_id,
      messageId: inbound.wamid,
    });
    assert.equal(received.from, "15550301000");
    assert.equal(received.kapso?.direction, "inbound");
    assert.equal(received.kapso?.status, "received");
    assert.equal(received.kapso?.whatsappConversationId, message.kapso?.whatsappConversationId);
  });

  it("finds a send Meta refused by the id history gives it", async () => {
    const injected = await t.api(a, {
      method: "POST",
      url: "/sandbox/failures",
      payload: {
        phone_number_id: number.phone_number_id,
        operation: "send",
        error: { code: 131026, message: "Message undeliverable" },
      },
    });
    assert.equal(injected.statusCode, 201, injected.body);
    await contactWrites("15550302000");
    await graphError(
      client.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550302000", body: "x" }),
    );
    const history = await client.messages.query({
      phoneNumberId: number.phone_number_id,
      status: "failed",
      limit: 1,
    });
    const failed = history.data[0]!;
    assert.doesNotMatch(failed.id, /^wamid\./, "no wamid: Parley's own id");
    const again = await client.messages.get({ phoneNumberId: number.phone_number_id, messageId: failed.id });
    assert.equal(again.kapso?.status, "failed");
    assert.equal((again.kapso?.error as { error?: { code?: number } } | undefined)?.error?.code, 131026);
  });

  it("refuses unknown ids, other numbers' messages and other projects like Meta", async () => {
    const inbound = await contactWrites("15550303000");
    for (const messageId of ["wamid.unknown", "00000000-0000-4000-8000-000000000000", "x'--"]) {
      const error = await graphError(
        client.messages.get({ phoneNumberId: number.phone_number_id, messageId }),
      );
      assert.equal(error.httpStatus, 400);
      assert.equal(error.code, 100);
      assert.equal(error.errorSubcode, 33);
    }
    const elsewhere = await graphError(
      client.messages.get({ phoneNumberId: otherNumber.phone_number_id, messageId: inbound.wamid }),
    );
    assert.equal(elsewhere.errorSubcode, 33, "a message is read through its own number only");
    const clientB = kapsoClient(t.baseUrl, b.apiKey);
    const foreign = await graphError(
      clientB.messages.get({ phoneNumberId: number.phone_number_id, messageId: inbound.wamid }),
    );
    assert.equal(foreign.code, 100);
    assert.equal(foreign.errorSubcode, 33);
    assert.match(foreign.message, new RegExp(number.phone_number_id));
  });
});

describe("fields=kapso(…) on history", () => {
  it("returns the chosen members, the default set, or no kapso object", async () => {
    const inbound = await contactWrites("15550304000");
    const read = (fields?: string) =>
      client.messages.get({ phoneNumberId: number.phone_number_id, messageId: inbound.wamid, fields });

    const chosen = await read("kapso(direction,status)");
    assert.deepEqual(chosen.kapso, { direction: "inbound", status: "received" });
    assert.equal(chosen.from, "15550304000", "Meta's fields are always there");
    assert.deepEqual(chosen.text, { body: "Hi" });

    const spaced = await read("kapso( contact_name , message_type_data )");
    assert.deepEqual(spaced.kapso, { contactName: "Bea", messageTypeData: { body: "Hi" } });

    const byDefault = await read();
    assert.deepEqual(await read("kapso(default)"), byDefault);
    assert.deepEqual(
      Object.keys(byDefault.kapso ?? {}).sort(),
      [
        "content",
        "contactName",
        "direction",
        "hasMedia",
        "mediaUrl",
        "origin",
        "phoneNumber",
        "processingStatus",
        "status",
        "whatsappConversationId",
      ].sort(),
    );

    const none = await read("kapso()");
    assert.equal(none.kapso, undefined);
    assert.equal(none.id, inbound.wamid);

    // The client's own helper asks for all of its members at once.
    const every = await read(buildKapsoFields());
    assert.deepEqual(every.kapso?.messageTypeData, { body: "Hi" });
    assert.equal(every.kapso?.direction, "inbound");
  });

  it("selects on the history list too", async () => {
    await contactWrites("15550305000");
    const page = await client.messages.query({
      phoneNumberId: number.phone_number_id,
      fields: "kapso(direction)",
      limit: 5,
    });
    assert.equal(page.data.length, 5);
    for (const message of page.data) assert.deepEqual(Object.keys(message.kapso ?? {}), ["direction"]);
    const bare = await client.messages.query({ phoneNumberId: number.phone_number_id, fields: "kapso()" });
    assert.ok(bare.data.every((m) => m.kapso === undefined));
  });

  it("answers malformed fields and filters with Meta's error naming them", async () => {
    const inbound = await contactWrites("15550306000");
    for (const [fields, pattern] of [
      ["kapso(direction,nonsense)", /nonexisting field \(nonsense\)/],
      ["kapso(direction", /kapso\(member/],
      ["id,type", /kapso\(member/],
    ] as const) {
      const single = await get(`${base}/messages/${inbound.wamid}?fields=${encodeURIComponent(fields)}`);
      assert.equal(single.status, 400);
      const body = await single.json();
      assert.equal(body.error.code, 100);
      assert.equal(body.error.type, "OAuthException");
      assert.match(body.error.message, /Param fields/);
      assert.match(body.error.message, pattern);
      assert.ok(body.error.fbtrace_id);
      const list = await get(`${base}/messages?fields=${encodeURIComponent(fields)}`);
      assert.equal(list.status, 400);
      assert.equal((await list.json()).error.code, 100);
    }
    const direction = await graphError(
      client.messages.query({ phoneNumberId: number.phone_number_id, direction: "sideways" }),
    );
    assert.equal(direction.code, 100);
    assert.match(direction.message, /direction/);
    const status = await graphError(
      client.messages.query({ phoneNumberId: number.phone_number_id, status: "lost" }),
    );
    assert.match(status.message, /status/);
  });
});

describe("kapso.media_data", () => {
  it("has the URL, name, type and size of a file uploaded through Parley and sent by id", async () => {
    await contactWrites("15550307000");
    const upload = await client.media.upload({
      phoneNumberId: number.phone_number_id,
      type: "image/png",
      file: new Blob([PNG], { type: "image/png" }),
      fileName: "dot.png",
    });
    const sent = await client.messages.sendImage({
      phoneNumberId: number.phone_number_id,
      to: "15550307000",
      image: { id: upload.id, caption: "A dot" },
    });
    const message = await client.messages.get({
      phoneNumberId: number.phone_number_id,
      messageId: sent.messages[0]!.id,
    });
    const media = message.kapso?.mediaData;
    assert.ok(media);
    assert.equal(media.filename, "dot.png");
    assert.equal(media.contentType, "image/png");
    assert.equal(media.byteSize, PNG.length);
    assert.equal(media.url, message.kapso?.mediaUrl);
    const url = new URL(media.url!);
    assert.equal(url.pathname, `/media/${number.id}/${upload.id}`);
    const download = await fetch(media.url!);
    assert.equal(download.status, 200, "no header needed");
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), PNG);

    const chosen = await client.messages.get({
      phoneNumberId: number.phone_number_id,
      messageId: sent.messages[0]!.id,
      fields: "kapso(media_data)",
    });
    assert.deepEqual(Object.keys(chosen.kapso ?? {}), ["mediaData"]);
    assert.equal(chosen.kapso?.mediaData?.byteSize, PNG.length);
  });

  it("has what Meta tells of received media, and the link of media sent by link", async () => {
    const inbound = await contactWrites("15550308000", {
      type: "document",
      document: { id: "4455667788", mime_type: "application/pdf", sha256: "abc", filename: "invoice.pdf" },
    });
    const received = await client.messages.get({
      phoneNumberId: number.phone_number_id,
      messageId: inbound.wamid,
    });
    const url = received.kapso?.mediaData?.url;
    assert.ok(url);
    assert.equal(new URL(url).pathname, `/media/${number.id}/4455667788`);
    assert.deepEqual(
      { ...received.kapso?.mediaData, url: undefined },
      { url: undefined, filename: "invoice.pdf", contentType: "application/pdf", byteSize: null },
      "Meta does not tell a received file's size",
    );

    const sent = await client.messages.sendDocument({
      phoneNumberId: number.phone_number_id,
      to: "15550308000",
      document: { link: "https://example.com/files/terms.pdf", filename: "terms.pdf" },
    });
    const byLink = await client.messages.get({
      phoneNumberId: number.phone_number_id,
      messageId: sent.messages[0]!.id,
    });
    assert.equal(byLink.kapso?.mediaUrl, null);
    assert.deepEqual(byLink.kapso?.mediaData, {
      url: "https://example.com/files/terms.pdf",
      filename: "terms.pdf",
      contentType: null,
      byteSize: null,
    });
  });
});
