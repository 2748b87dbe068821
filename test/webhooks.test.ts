import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let other: PhoneNumberRow;
let sink: WebhookSink;

before(async () => {
  sink = await startWebhookSink();
  t = await startTestApp({
    listen: true,
    env: {
      PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1",
      PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "0.2,0.2",
      PARLEY_WEBHOOK_RETRY_WINDOW_HOURS: "0",
    },
  });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  other = await insertSandboxNumber(t, b.projectId);
});
after(async () => {
  await t.close();
  await sink.close();
});

const post = (p: TestProject, url: string, whatsapp_webhook: unknown) =>
  t.api(p, { method: "POST", url: `/platform/v1${url}`, payload: { whatsapp_webhook } });

describe("webhooks", () => {
  it("delivers a number's message events, signed, and only to that number's webhook", async () => {
    const created = await post(a, `/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`, {
      url: `${sink.url}?a`,
      secret_key: "s3cret",
      events: ["whatsapp.message.received", "whatsapp.conversation.created"],
      headers: { "X-Webhook-Source": "parley" },
    });
    assert.equal(created.statusCode, 201, created.body);
    const webhook = created.json().data;
    assert.equal(webhook.phone_number_id, number.phone_number_id);
    assert.equal(webhook.kind, "kapso");
    assert.equal(webhook.payload_version, "v2");
    // Another project's webhook on its own number must never see project A's traffic.
    await post(b, `/whatsapp/phone_numbers/${other.phone_number_id}/webhooks`, {
      url: `${sink.url}?b`,
      secret_key: "other",
      events: ["whatsapp.message.received"],
    });

    await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550401000",
      message: { type: "text", text: { body: "hook me" } },
    });
    // conversation.created carries the text too: wait for both events by name.
    await sink.waitFor((r) => r.some((x) => x.headers["x-webhook-event"] === "whatsapp.message.received"));
    await sink.waitFor((r) =>
      r.some((x) => x.headers["x-webhook-event"] === "whatsapp.conversation.created"),
    );
    const delivery = sink.received.find((x) => x.headers["x-webhook-event"] === "whatsapp.message.received")!;
    assert.equal(delivery.headers["x-webhook-signature"], signWebhookBody("s3cret", delivery.raw));
    assert.equal(delivery.headers["x-webhook-payload-version"], "v2");
    assert.equal(delivery.headers["x-webhook-source"], "parley");
    assert.match(String(delivery.headers["x-idempotency-key"]), /^[0-9a-f-]{36}$/);
    const body = delivery.body as { message: { text: { body: string } }; phone_number_id: string };
    assert.equal(body.message.text.body, "hook me");
    assert.equal(body.phone_number_id, number.phone_number_id);
    assert.ok(
      !sink.received.some((x) => x.headers["x-webhook-signature"] === signWebhookBody("other", x.raw)),
    );

    // The receiver may answer before the dispatcher has recorded the delivery: poll the log.
    let entry: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !entry; i++) {
      const log = await t.api(a, {
        method: "GET",
        url: `/platform/v1/webhook_deliveries?webhook_id=${webhook.id}&status=delivered`,
      });
      assert.equal(log.statusCode, 200, log.body);
      entry = log.json().data.find((d: { event: string }) => d.event === "whatsapp.message.received");
      if (!entry) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(entry, "the delivery is logged as delivered");
    assert.equal(entry.response_status, 200);
    assert.equal(entry.attempt_count, 1);
    assert.equal(entry.phone_number_id, number.phone_number_id);
    assert.equal(entry.conversation_phone_number, "15550401000");
  });

  it("retries a failing endpoint on the schedule, then marks the delivery failed", async () => {
    const failing = await startWebhookSink();
    failing.status = 500;
    try {
      const webhook = (
        await post(a, "/whatsapp/webhooks", { url: failing.url, events: ["whatsapp.phone_number.created"] })
      ).json().data;
      assert.match(webhook.secret_key, /^wh_sec_/, "project webhooks get a generated secret");
      const test = await t.api(a, {
        method: "POST",
        url: `/platform/v1/whatsapp/webhooks/${webhook.id}/test`,
        payload: {},
      });
      assert.equal(test.statusCode, 200, test.body);
      await failing.waitFor((r) => r.length === 3);
      const ids = new Set(failing.received.map((r) => r.headers["x-idempotency-key"]));
      assert.equal(ids.size, 1, "retries carry the same idempotency key");
      let failed: { status: string; attempt_count: number; response_status: number } | undefined;
      for (let i = 0; i < 50 && failed?.status !== "failed"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        failed = (
          await t.api(a, { method: "GET", url: `/platform/v1/webhook_deliveries?webhook_id=${webhook.id}` })
        ).json().data[0];
      }
      assert.equal(failed!.status, "failed");
      assert.equal(failed!.attempt_count, 3);
      assert.equal(failed!.response_status, 500);
    } finally {
      await failing.close();
    }
  });

  it("validates webhooks and keeps them inside their project", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/whatsapp/webhooks", { events: ["whatsapp.phone_number.created"] }, /url is required/],
      ["/whatsapp/webhooks", { url: "ftp://x.example", events: ["whatsapp.phone_number.created"] }, /url/],
      [
        "/whatsapp/webhooks",
        { url: "https://x.example", events: ["whatsapp.message.received"] },
        /needs phone_number_id/,
      ],
      ["/whatsapp/webhooks", { url: "https://x.example", events: ["nope"] }, /not a supported event/],
      [
        `/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`,
        { url: "https://x.example", events: ["whatsapp.message.received"] },
        /secret_key is required/,
      ],
      [
        `/whatsapp/phone_numbers/${number.phone_number_id}/webhooks`,
        { url: "https://x.example", secret_key: "k", events: [] },
        /at least one event/,
      ],
    ];
    for (const [url, body, pattern] of cases) {
      const response = await post(a, url, body);
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.match(response.json().error, pattern);
    }
    assert.equal(
      (
        await post(a, `/whatsapp/phone_numbers/${other.phone_number_id}/webhooks`, {
          url: "https://x.example",
          secret_key: "k",
          events: ["whatsapp.message.received"],
        })
      ).statusCode,
      404,
    );
    const mine = (
      await post(a, "/whatsapp/webhooks", {
        url: "https://x.example",
        events: ["whatsapp.phone_number.deleted"],
      })
    ).json().data;
    assert.equal(
      (await t.api(b, { method: "GET", url: `/platform/v1/whatsapp/webhooks/${mine.id}` })).statusCode,
      404,
    );
    assert.equal(
      (await t.api(b, { method: "DELETE", url: `/platform/v1/whatsapp/webhooks/${mine.id}` })).statusCode,
      404,
    );
    const paused = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/whatsapp/webhooks/${mine.id}`,
      payload: { whatsapp_webhook: { active: false } },
    });
    assert.equal(paused.json().data.active, false);
    const kind = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/whatsapp/webhooks/${mine.id}`,
      payload: { whatsapp_webhook: { kind: "meta" } },
    });
    assert.equal(kind.statusCode, 422);
    const list = await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/webhooks?active=false" });
    assert.deepEqual(
      list.json().data.map((w: { id: string }) => w.id),
      [mine.id],
    );
    assert.equal(
      (await t.api(a, { method: "DELETE", url: `/platform/v1/whatsapp/webhooks/${mine.id}` })).statusCode,
      204,
    );
  });

  it("refuses to deliver to private addresses unless allowlisted", async () => {
    const strict = await startTestApp({ env: { PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "" } });
    try {
      const p = await strict.createProject();
      const webhook = (
        await strict.api(p, {
          method: "POST",
          url: "/platform/v1/whatsapp/webhooks",
          payload: { whatsapp_webhook: { url: sink.url, events: ["whatsapp.phone_number.created"] } },
        })
      ).json().data;
      const before = sink.received.length;
      const queued = await strict.api(p, {
        method: "POST",
        url: `/platform/v1/whatsapp/webhooks/${webhook.id}/test`,
      });
      assert.equal(queued.statusCode, 200, queued.body);
      let entry: { status: string } | undefined;
      for (let i = 0; i < 100 && entry?.status !== "failed"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        entry = (await strict.api(p, { method: "GET", url: "/platform/v1/webhook_deliveries" })).json()
          .data[0];
      }
      assert.equal(entry?.status, "pending", "loopback refused: the delivery is retried, never sent");
      assert.equal(sink.received.length, before);
    } finally {
      await strict.close();
    }
  });
});
