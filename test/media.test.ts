import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import sql from "sql-template-tag";
import { mediaDownloadUrl } from "../src/modules/media/urls.ts";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber, PNG } from "./support/fixtures.ts";
import { graphError, kapsoClient } from "./support/kapso-client.ts";
import { startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// Media through the Meta proxy with the official Kapso client, the signed download URLs Parley
// hands out instead of Meta's, and `kapso.media_url` on every surface that presents messages.

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let numberB: PhoneNumberRow;
let client: WhatsAppClient;
let clientB: WhatsAppClient;
let sink: WebhookSink;

before(async () => {
  t = await startTestApp({
    listen: true,
    env: {
      PARLEY_SANDBOX_STATUS_DELAY_MS: "10",
      PARLEY_SEND_RATE_PER_SECOND: "1000",
      PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1",
    },
  });
  // URLs Parley hands out must reach this test's server.
  t.ctx.config.publicUrl = t.baseUrl;
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  numberB = await insertSandboxNumber(t, b.projectId);
  client = kapsoClient(t.baseUrl, a.apiKey);
  clientB = kapsoClient(t.baseUrl, b.apiKey);
  sink = await startWebhookSink();
});
after(async () => {
  await sink?.close();
  await t.close();
});

const upload = (c = client, phoneNumberId = number.phone_number_id, file: Buffer = PNG) =>
  c.media.upload({ phoneNumberId, type: "image/png", file, fileName: "dot.png" });

describe("media through the Meta proxy with @kapso/whatsapp-cloud-api", () => {
  it("uploads, reads metadata with a Parley URL, downloads without the Meta token, deletes", async () => {
    const { id } = await upload();
    assert.match(id, /^\d+$/);
    const [stored] = await t.ctx.db.query<{ phone_number_id: string; filename: string }>(
      sql`SELECT phone_number_id, filename FROM sandbox_media WHERE id = ${id}`,
    );
    assert.deepEqual(stored, { phone_number_id: number.phone_number_id, filename: "dot.png" });

    const metadata = await client.media.get({ mediaId: id, phoneNumberId: number.phone_number_id });
    assert.equal(metadata.id, id);
    assert.equal(metadata.mimeType, "image/png");
    assert.equal(metadata.sha256, sha256(PNG));
    assert.equal(Number(metadata.fileSize), PNG.length);
    const url = new URL(metadata.url);
    assert.equal(url.origin, t.baseUrl, "the URL points at Parley");
    assert.match(url.pathname, new RegExp(`^/media/${number.id}/${id}$`));
    assert.ok(!metadata.url.includes("/sandbox/"), "never Meta's (the sandbox's) own URL");

    const bytes = await client.media.download({ mediaId: id, phoneNumberId: number.phone_number_id });
    assert.deepEqual(Buffer.from(bytes as ArrayBuffer), PNG);
    // No header at all, as an <img> fetches it.
    const plain = await fetch(metadata.url);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("content-type"), "image/png");
    assert.equal(plain.headers.get("x-content-type-options"), "nosniff");
    assert.match(plain.headers.get("cache-control")!, /^private, max-age=\d+$/);
    assert.deepEqual(Buffer.from(await plain.arrayBuffer()), PNG);

    const deleted = await client.media.delete({ mediaId: id, phoneNumberId: number.phone_number_id });
    assert.equal(deleted.success, true);
    const gone = await graphError(client.media.get({ mediaId: id, phoneNumberId: number.phone_number_id }));
    assert.equal(gone.code, 100);
    assert.equal((await fetch(metadata.url)).status, 404, "a signed URL of deleted media is a 404");
  });

  it("refuses tampered and expired download URLs, and URLs of a disconnected number", async () => {
    const { id } = await upload();
    const good = new URL(mediaDownloadUrl(t.ctx, number.id, id).url);
    const status = async (url: URL) => (await fetch(url)).status;

    const otherId = new URL(good);
    otherId.pathname = `/media/${number.id}/${(await upload()).id}`;
    assert.equal(await status(otherId), 403, "the signature covers the media id");
    const otherNumber = new URL(good);
    otherNumber.pathname = `/media/${numberB.id}/${id}`;
    assert.equal(await status(otherNumber), 403, "and the number");
    const later = new URL(good);
    later.searchParams.set("expires", String(Number(good.searchParams.get("expires")) + 3600));
    assert.equal(await status(later), 403, "and the expiry");
    const forged = new URL(good);
    forged.searchParams.set("signature", "A".repeat(43));
    const refused = await fetch(forged);
    assert.equal(refused.status, 403);
    assert.deepEqual(await refused.json(), { error: "This media URL's signature is not valid" });
    const unsigned = new URL(good);
    unsigned.search = "";
    assert.equal(await status(unsigned), 403);

    const expired = await fetch(mediaDownloadUrl(t.ctx, number.id, id, Date.now() - 3601_000).url);
    assert.equal(expired.status, 403);
    assert.deepEqual(await expired.json(), { error: "This media URL has expired" });

    assert.equal(await status(good), 200);
    const gone = await insertSandboxNumber(t, a.projectId);
    const goneMedia = await upload(client, gone.phone_number_id);
    const goneUrl = mediaDownloadUrl(t.ctx, gone.id, goneMedia.id).url;
    assert.equal(await status(new URL(goneUrl)), 200);
    await t.ctx.db.query(sql`UPDATE phone_numbers SET deleted_at = now() WHERE id = ${gone.id}`);
    assert.equal(await status(new URL(goneUrl)), 404, "the number is no longer connected");
  });

  it("keeps each project to its own numbers and their media", async () => {
    const { id } = await upload();
    const foreignNumber = await graphError(upload(clientB, number.phone_number_id));
    assert.equal(foreignNumber.code, 100);
    assert.equal(foreignNumber.errorSubcode, 33);
    const viaForeign = await graphError(
      clientB.media.get({ mediaId: id, phoneNumberId: number.phone_number_id }),
    );
    assert.equal(viaForeign.errorSubcode, 33);
    // B's own number cannot reach A's media either (Meta's phone_number_id check).
    const viaOwn = await graphError(
      clientB.media.get({ mediaId: id, phoneNumberId: numberB.phone_number_id }),
    );
    assert.equal(viaOwn.code, 100);
    const deleteViaOwn = await graphError(
      clientB.media.delete({ mediaId: id, phoneNumberId: numberB.phone_number_id }),
    );
    assert.equal(deleteViaOwn.code, 100);
    assert.ok((await client.media.get({ mediaId: id, phoneNumberId: number.phone_number_id })).url);
  });

  it("answers Meta's errors for bad uploads and calls", async () => {
    const wrongType = await graphError(
      client.media.upload({
        phoneNumberId: number.phone_number_id,
        type: "application/x-msdownload",
        file: Buffer.from("MZ"),
      }),
    );
    assert.equal(wrongType.httpStatus, 400);
    assert.equal(wrongType.code, 100);
    const base = `${t.baseUrl}/meta/whatsapp/v24.0`;
    const noFile = await fetch(`${base}/${number.phone_number_id}/media`, {
      method: "POST",
      headers: { "x-api-key": a.apiKey, "content-type": "application/json" },
      body: JSON.stringify({ messaging_product: "whatsapp" }),
    });
    assert.equal(noFile.status, 400);
    assert.match((await noFile.json()).error.message, /file is required/);
    const noNumber = await fetch(`${base}/123456`, { headers: { "x-api-key": a.apiKey } });
    assert.equal(noNumber.status, 400);
    assert.match((await noNumber.json()).error.message, /phone_number_id is required/);
    const numberRead = await fetch(`${base}/${number.phone_number_id}`, {
      headers: { "x-api-key": a.apiKey },
    });
    assert.equal(numberRead.status, 200, "the project's number id reads the number, not a media object");
    assert.equal((await numberRead.json()).id, number.phone_number_id);
    const numberDelete = await fetch(`${base}/${number.phone_number_id}`, {
      method: "DELETE",
      headers: { "x-api-key": a.apiKey },
    });
    assert.equal((await numberDelete.json()).error.code, 3, "a number is not deleted as a media object");
    const notMedia = await fetch(`${base}/abc?phone_number_id=${number.phone_number_id}`, {
      headers: { "x-api-key": a.apiKey },
    });
    assert.equal((await notMedia.json()).error.error_subcode, 33);
    const resumable = await fetch(`${base}/${number.phone_number_id}/media`, {
      method: "POST",
      headers: { "x-api-key": a.apiKey },
      body: (() => {
        const form = new FormData();
        form.set("messaging_product", "whatsapp");
        form.set("type", "image/png");
        form.set("upload_strategy", "resumable");
        form.set("file", new Blob([PNG]), "dot.png");
        return form;
      })(),
    });
    assert.equal(resumable.status, 400);
    assert.match((await resumable.json()).error.message, /meta_resumable_asset/);
    const noKey = await fetch(`${base}/${number.phone_number_id}/media`, { method: "POST" });
    assert.equal(noKey.status, 401);
  });
});

describe("kapso.media_url", () => {
  it("is a signed Parley URL on inbound and outbound media, in history, the inbox and webhooks", async () => {
    const webhook = await t.api(a, {
      method: "POST",
      url: `/platform/v1/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`,
      payload: {
        whatsapp_webhook: {
          url: sink.url,
          events: ["whatsapp.message.received"],
          secret_key: "media-secret",
        },
      },
    });
    assert.equal(webhook.statusCode, 201, webhook.body);

    // The contact sends a photo: Meta's webhook carries its media id.
    const { id: photo } = await upload();
    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550701000",
      profileName: "Ana",
      message: {
        type: "image",
        image: { id: photo, mime_type: "image/png", sha256: sha256(PNG), caption: "look" },
      },
    });
    // The business answers with an image by id and one by link.
    const { id: reply } = await upload();
    await client.messages.sendImage({
      phoneNumberId: number.phone_number_id,
      to: "15550701000",
      image: { id: reply },
    });
    await client.messages.sendImage({
      phoneNumberId: number.phone_number_id,
      to: "15550701000",
      image: { link: "https://example.com/cat.png" },
    });
    await client.messages.sendText({ phoneNumberId: number.phone_number_id, to: "15550701000", body: "hi" });

    const conversation = (
      await client.conversations.list({ phoneNumberId: number.phone_number_id, phoneNumber: "15550701000" })
    ).data[0]!;
    const history = await client.messages.listByConversation({
      phoneNumberId: number.phone_number_id,
      conversationId: conversation.id,
    });
    const [text, byLink, byId, inbound] = history.data as {
      type: string;
      kapso?: { mediaUrl?: string | null; hasMedia?: boolean };
    }[];
    assert.equal(text!.kapso?.mediaUrl, null);
    assert.equal(byLink!.kapso?.mediaUrl, null, "media sent by link carries its own URL");
    assert.equal(byLink!.kapso?.hasMedia, true);
    const replyUrl = byId!.kapso!.mediaUrl!;
    const inboundUrl = inbound!.kapso!.mediaUrl!;
    assert.match(replyUrl, new RegExp(`^${t.baseUrl}/media/${number.id}/${reply}\\?expires=\\d+&signature=`));
    assert.match(inboundUrl, new RegExp(`^${t.baseUrl}/media/${number.id}/${photo}\\?`));
    assert.deepEqual(Buffer.from(await (await fetch(inboundUrl)).arrayBuffer()), PNG);

    // The embedded inbox reads the same presenter.
    const embed = await t.api(a, {
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      payload: { inbox_embed: { scope_type: "project" } },
    });
    const token = embed.json().data.token;
    const inbox = await t.request({
      method: "GET",
      url: `/embed/api/conversations/${conversation.id}/messages`,
      headers: { authorization: `Bearer ${token}` },
    });
    const shown = (inbox.json().data as { type: string; kapso: { media_url: string | null } }[]).find(
      (m) => m.type === "image" && m.kapso.media_url?.includes(photo),
    );
    assert.ok(shown, inbox.body);
    assert.equal((await fetch(shown.kapso.media_url!)).status, 200);

    // And the whatsapp.message.received webhook.
    const isImage = (d: { body: unknown }) =>
      (d.body as { message?: { type?: string } }).message?.type === "image";
    await sink.waitFor((received) => received.some(isImage));
    const delivered = sink.received.find(isImage)!;
    const message = (delivered.body as { message: { image: { id: string }; kapso: { media_url: string } } })
      .message;
    assert.equal(message.image.id, photo);
    assert.match(message.kapso.media_url, new RegExp(`/media/${number.id}/${photo}\\?`));
    assert.equal((await fetch(message.kapso.media_url)).status, 200);
  });
});
