import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GraphApiError, WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import { normalizeWebhook, verifySignature } from "@kapso/whatsapp-cloud-api/server";
import { startTestApp, type TestApp } from "../../test/support/app.ts";
import { insertSandboxNumber } from "../../test/support/fixtures.ts";
import { startWebhookSink, type WebhookSink } from "../../test/support/webhook-sink.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { SANDBOX_ACCESS_TOKEN } from "../whatsapp/targets.ts";
import { sandboxAppSecret } from "../whatsapp/webhook-signature.ts";

// The official WhatsApp Cloud API client, pointed straight at the sandbox as it would be at
// Meta: an outside check that the sandbox speaks Meta's API and Meta's webhooks.

let t: TestApp;
let sink: WebhookSink;
let number: PhoneNumberRow;
let client: WhatsAppClient;

before(async () => {
  sink = await startWebhookSink();
  t = await startTestApp({
    listen: true,
    env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10", PARLEY_SANDBOX_WEBHOOK_URL: sink.url },
  });
  const project = await t.createProject();
  number = await insertSandboxNumber(t, project.projectId);
  client = new WhatsAppClient({
    baseUrl: `${t.baseUrl}/sandbox/graph`,
    accessToken: SANDBOX_ACCESS_TOKEN,
    graphVersion: "v23.0",
  });
});
after(async () => {
  await t.close();
  await sink.close();
});

describe("@kapso/whatsapp-cloud-api against the sandbox", () => {
  it("sends text and its status webhooks pass the client's own signature check and parser", async () => {
    const result = await client.messages.sendText({
      phoneNumberId: number.phone_number_id,
      to: "15551230000",
      body: "Hello from the official client",
    });
    assert.equal(result.messagingProduct, "whatsapp");
    assert.equal(result.contacts[0]!.waId, "15551230000");
    const wamid = result.messages[0]!.id;
    await sink.waitFor((received) => received.filter((r) => r.raw.includes(wamid)).length === 3);

    const secret = await sandboxAppSecret(t.ctx.db);
    const deliveries = sink.received.filter((r) => r.raw.includes(wamid));
    for (const delivery of deliveries) {
      assert.ok(
        verifySignature({
          appSecret: secret,
          rawBody: delivery.raw,
          signatureHeader: delivery.headers["x-hub-signature-256"] as string,
        }),
      );
    }
    const normalized = deliveries.map((d) => normalizeWebhook(d.body));
    assert.equal(normalized[0]!.phoneNumberId, number.phone_number_id);
    assert.deepEqual(
      normalized.map((n) => n.statuses[0]!.status),
      ["sent", "delivered", "read"],
    );
    assert.equal(normalized[0]!.statuses[0]!.recipientId, "15551230000");
  });

  it("sends a seeded template and sees Meta's errors as GraphApiError", async () => {
    const result = await client.messages.sendTemplate({
      phoneNumberId: number.phone_number_id,
      to: "15551230000",
      template: {
        name: "order_update",
        language: { code: "en_US" },
        components: [{ type: "body", parameters: [{ type: "text", text: "#42" }] }],
      },
    });
    assert.match(result.messages[0]!.id, /^wamid\./);

    await assert.rejects(
      client.messages.sendTemplate({
        phoneNumberId: number.phone_number_id,
        to: "15551230000",
        template: { name: "order_update", language: { code: "en_US" } },
      }),
      (err: unknown) => err instanceof GraphApiError && err.code === 132000,
    );
  });

  it("lists templates, uploads and fetches media through the client", async () => {
    const templates = await client.templates.list({ businessAccountId: number.business_account_id! });
    assert.ok(templates.data.some((tpl) => tpl.name === "hello_world"));

    const upload = await client.media.upload({
      phoneNumberId: number.phone_number_id,
      type: "image/jpeg",
      file: new Blob([Buffer.from("jpeg bytes")], { type: "image/jpeg" }),
      fileName: "photo.jpg",
    });
    const metadata = await client.media.get({ mediaId: upload.id });
    assert.equal(metadata.mimeType, "image/jpeg");
    const bytes = await client.media.download({ mediaId: upload.id, auth: "always" });
    assert.equal(Buffer.from(bytes as ArrayBuffer).toString(), "jpeg bytes");
  });
});
