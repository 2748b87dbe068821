import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import { sandboxAppSecret, signMetaPayload } from "../src/whatsapp/webhook-signature.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { until } from "./support/poll.ts";
import { freePort } from "./support/process.ts";
import { type ReceivedWebhook, startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// Bodies of received webhooks are free-form JSON, checked field by field.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const eventOf = (r: ReceivedWebhook) => r.headers["x-webhook-event"];

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let other: PhoneNumberRow;
const sinks: WebhookSink[] = [];

async function sink(): Promise<WebhookSink> {
  const s = await startWebhookSink();
  sinks.push(s);
  return s;
}

const post = (p: TestProject, url: string, whatsapp_webhook: unknown) =>
  t.api(p, { method: "POST", url: `/platform/v1${url}`, payload: { whatsapp_webhook } });
const numberHooks = (n: PhoneNumberRow) => `/whatsapp/phone_numbers/${n.phone_number_id}/webhooks`;

async function createHook(p: TestProject, n: PhoneNumberRow, body: Record<string, unknown>) {
  const response = await post(p, numberHooks(n), { secret_key: "s3cret", ...body });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data as Json;
}

const inbound = (n: PhoneNumberRow, from: string, text: string) =>
  simulateInbound(t.ctx, {
    phoneNumberId: n.phone_number_id,
    from,
    message: { type: "text", text: { body: text } },
  });

/** Posts a raw Meta webhook body to Parley's receiver, signed as the sandbox signs. */
async function postMeta(raw: string): Promise<number> {
  const response = await fetch(`${t.baseUrl}/webhooks/whatsapp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signMetaPayload(await sandboxAppSecret(t.ctx.db), raw),
    },
    body: raw,
  });
  await response.body?.cancel();
  return response.status;
}

before(async () => {
  t = await startTestApp({
    listen: true,
    env: {
      PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1",
      PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "0.3,0.3",
      PARLEY_WEBHOOK_RETRY_WINDOW_HOURS: "0.001",
      PARLEY_WEBHOOK_RETRY_MAX_DELAY_SECONDS: "0.5",
      PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES: "0",
      PARLEY_WEBHOOK_ORDER_WAIT_SECONDS: "2",
      PARLEY_WEBHOOK_INACTIVITY_MINUTE_SECONDS: "1",
    },
  });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  other = await insertSandboxNumber(t, b.projectId);
});
after(async () => {
  await t.close();
  for (const s of sinks) await s.close();
});

describe("meta webhooks", () => {
  it("forward Meta's body byte for byte, signed, keyed by its SHA-256, one per number", async () => {
    const s = await sink();
    const hook = await createHook(a, number, {
      url: s.url,
      kind: "meta",
      secret_key: "meta-secret",
      events: ["whatsapp.message.received"],
    });
    assert.equal(hook.kind, "meta");
    assert.deepEqual(hook.events, [], "events of a meta webhook are dropped");
    assert.equal(hook.payload_version, null);

    const refusals: [string, unknown, RegExp][] = [
      [numberHooks(number), { url: s.url, kind: "meta", secret_key: "x" }, /already has a meta webhook/],
      ["/whatsapp/webhooks", { url: s.url, kind: "meta" }, /phone_number_id is required for meta/],
      [numberHooks(other), { url: s.url, kind: "meta", secret_key: "x" }, /Phone number not found/],
      [
        numberHooks(number),
        { url: s.url, kind: "meta", secret_key: "x", buffer_enabled: true },
        /buffer_enabled is not available for meta/,
      ],
    ];
    for (const [url, body, pattern] of refusals) {
      const response = await post(a, url, body);
      assert.ok([404, 422].includes(response.statusCode), response.body);
      assert.match(response.json().error, pattern);
    }

    // Odd spacing and non-ASCII text: what Meta sent must arrive unchanged.
    const raw = `{"object":"whatsapp_business_account",  "entry":[{"id":"sandbox","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100000","phone_number_id":"${number.phone_number_id}"},"contacts":[{"profile":{"name":"Raw"},"wa_id":"15550409000"}],"messages":[{"from":"15550409000","id":"wamid.RAW${Date.now()}","timestamp":"${Math.floor(Date.now() / 1000)}","type":"text","text":{"body":"raw é ✓"}}]},"field":"messages"}]}] }`;
    assert.equal(await postMeta(raw), 200);
    await s.waitFor((r) => r.length === 1);
    const [got] = s.received;
    assert.equal(got!.raw, raw);
    assert.equal(got!.headers["x-idempotency-key"], sha256(raw));
    assert.equal(got!.headers["x-webhook-signature"], signWebhookBody("meta-secret", raw));
    assert.equal(got!.headers["x-webhook-event"], undefined);
    // Meta retrying the same body: the same key, so the receiver can drop it.
    assert.equal(await postMeta(raw), 200);
    await s.waitFor((r) => r.length === 2);
    assert.equal(s.received[1]!.headers["x-idempotency-key"], sha256(raw));

    // The dispatcher records a delivery once the receiver answered, a moment after it arrived.
    const log = await until(
      () => t.api(a, { method: "GET", url: `/platform/v1/webhook_deliveries?webhook_id=${hook.id}` }),
      (r) => r.json().data.every((d: Json) => d.status !== "pending"),
    );
    assert.deepEqual(
      log.json().data.map((d: Json) => [d.event, d.status]),
      [
        ["meta.messages", "delivered"],
        ["meta.messages", "delivered"],
      ],
    );

    const test = await t.api(a, { method: "POST", url: `/platform/v1/whatsapp/webhooks/${hook.id}/test` });
    assert.equal(test.statusCode, 200, test.body);
    await s.waitFor((r) => r.length === 3);
    const probe = s.received[2]!;
    assert.equal((probe.body as Json).object, "whatsapp_business_account");
    assert.equal(probe.headers["x-idempotency-key"], sha256(probe.raw));
  });

  it("split a body that mixes numbers so each number sees only its own changes", async () => {
    const mine = await sink();
    const theirs = await sink();
    const n1 = await insertSandboxNumber(t, a.projectId);
    const n2 = await insertSandboxNumber(t, b.projectId);
    await createHook(a, n1, { url: mine.url, kind: "meta" });
    await createHook(b, n2, { url: theirs.url, kind: "meta" });
    const change = (n: PhoneNumberRow, field: string) => ({
      field,
      value: {
        messaging_product: "whatsapp",
        metadata: { display_phone_number: "15550100000", phone_number_id: n.phone_number_id },
        statuses: [],
      },
    });
    const raw = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{ id: "sandbox", changes: [change(n1, "messages"), change(n2, "account_update")] }],
    });
    assert.equal(await postMeta(raw), 200);
    await mine.waitFor((r) => r.length === 1);
    await theirs.waitFor((r) => r.length === 1);
    const ids = (r: ReceivedWebhook) =>
      (r.body as Json).entry.flatMap((e: Json) =>
        e.changes.map((c: Json) => c.value.metadata.phone_number_id),
      );
    assert.deepEqual(ids(mine.received[0]!), [n1.phone_number_id]);
    assert.deepEqual(ids(theirs.received[0]!), [n2.phone_number_id]);
    assert.equal((theirs.received[0]!.body as Json).entry[0].changes[0].field, "account_update");
  });
});

describe("delivery detail and redelivery (Parley extras)", () => {
  const get = (p: TestProject, url: string) => t.api(p, { method: "GET", url: `/platform/v1${url}` });
  const redeliver = (p: TestProject, id: string) =>
    t.api(p, { method: "POST", url: `/platform/v1/webhook_deliveries/${id}/redeliver` });
  async function deliveryOf(hookId: string, status: string): Promise<Json> {
    for (let i = 0; i < 300; i++) {
      const [d] = (await get(a, `/webhook_deliveries?webhook_id=${hookId}`)).json().data;
      if (d?.status === status) return d;
      await sleep(100);
    }
    throw new Error(`no ${status} delivery`);
  }

  it("shows what each attempt sent and got back, and redelivers with the same key", async () => {
    const s = await sink();
    s.reply = `busy ${"x".repeat(3000)}`;
    s.decide = () => (s.received.length === 0 ? 503 : 200);
    const hook = await createHook(a, number, { url: s.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550409100", "detail please");
    const delivered = await deliveryOf(hook.id, "delivered");
    await s.waitFor((r) => r.length === 2);

    const detail = (await get(a, `/webhook_deliveries/${delivered.id}`)).json().data;
    const { request, attempts, idempotency_key, ...record } = detail;
    assert.deepEqual(
      Object.fromEntries(Object.entries(record).filter(([k]) => k in delivered)),
      delivered,
      "the list's record, unchanged",
    );
    assert.equal(detail.next_attempt_at, null);
    assert.equal(detail.redelivered_at, null);
    assert.equal(detail.last_error, null);
    assert.equal(idempotency_key, s.received[0]!.headers["x-idempotency-key"]);
    assert.deepEqual(request, { body: s.received[0]!.raw, body_truncated: false });
    assert.equal(attempts.length, 2);
    const [first, second] = attempts;
    assert.deepEqual(
      [first.attempt, first.response.status, second.attempt, second.response.status],
      [1, 503, 2, 200],
    );
    assert.equal(first.response.body.length, 2048, "the answer is cut at 2,048 bytes");
    assert.ok(first.response.body.startsWith("busy xxx"));
    assert.equal(first.error, null);
    assert.equal(first.request.url, s.url);
    assert.equal(first.request.headers["x-webhook-signature"], signWebhookBody("s3cret", request.body));
    assert.equal(first.request.headers["x-idempotency-key"], idempotency_key);
    assert.equal(first.request.headers["x-webhook-event"], "whatsapp.message.received");
    assert.ok(first.duration_ms >= 0 && Date.parse(first.started_at) <= Date.parse(second.started_at));

    const again = await redeliver(a, delivered.id);
    assert.equal(again.statusCode, 202, again.body);
    assert.equal(again.json().data.id, delivered.id);
    await s.waitFor((r) => r.length === 3);
    assert.equal(s.received[2]!.headers["x-idempotency-key"], idempotency_key, "the same key");
    assert.equal(s.received[2]!.raw, request.body, "the same body");
    await until(
      async () => (await get(a, `/webhook_deliveries/${delivered.id}`)).json().data,
      (d: Json) => d.status === "delivered" && d.attempts.length === 3,
    );
    const after = (await get(a, `/webhook_deliveries/${delivered.id}`)).json().data;
    assert.ok(after.redelivered_at);
    assert.equal(after.attempt_count, 3);
  });

  it("records attempts that got no answer and gives a failed delivery one more try", async () => {
    const port = await freePort(); // nothing listens there
    const hook = await createHook(a, number, {
      url: `http://127.0.0.1:${port}/hook`,
      events: ["whatsapp.message.received"],
    });
    await inbound(number, "15550409200", "nobody home");
    const failed = await deliveryOf(hook.id, "failed");
    const detail = (await get(a, `/webhook_deliveries/${failed.id}`)).json().data;
    assert.equal(detail.attempts.length, failed.attempt_count);
    for (const attempt of detail.attempts) {
      assert.equal(attempt.response, null);
      assert.ok(attempt.error);
    }
    assert.equal(detail.last_error, detail.attempts.at(-1).error);

    const again = await redeliver(a, failed.id);
    assert.equal(again.statusCode, 202, again.body);
    assert.equal(again.json().data.status, "pending");
    assert.equal(again.json().data.failed_at, null);
    const refailed = await until(
      async () => (await get(a, `/webhook_deliveries/${failed.id}`)).json().data,
      (d: Json) => d.status === "failed",
    );
    assert.equal(refailed.attempts.length, failed.attempt_count + 1, "past the retry window: one attempt");
  });

  it("keeps deliveries inside their project and refuses a deleted webhook's", async () => {
    const s = await sink();
    const hook = await createHook(a, number, { url: s.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550409300", "mine");
    const delivered = await deliveryOf(hook.id, "delivered");
    for (const url of [
      `/webhook_deliveries/${delivered.id}`,
      `/webhook_deliveries/${crypto.randomUUID()}`,
      "/webhook_deliveries/nope",
    ]) {
      assert.equal((await get(b, url)).statusCode, 404, url);
    }
    assert.equal((await redeliver(b, delivered.id)).statusCode, 404);
    const removed = await t.api(a, {
      method: "DELETE",
      url: `/platform/v1${numberHooks(number)}/${hook.id}`,
    });
    assert.equal(removed.statusCode, 204);
    const refused = await redeliver(a, delivered.id);
    assert.equal(refused.statusCode, 422);
    assert.match(refused.json().error, /webhook was deleted/);
  });
});

describe("a slow receiver", () => {
  it("holds up only its own deliveries", async () => {
    const slow = await sink();
    slow.delayMs = 6_000;
    const fast = await sink();
    await createHook(a, number, { url: slow.url, events: ["whatsapp.message.received"] });
    await createHook(b, other, { url: fast.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550407300", "to a slow receiver");
    await slow.waitFor((r) => r.length === 1);
    await inbound(other, "15550407301", "to a fast one");
    await fast.waitFor((r) => r.length === 1);
    const waited = fast.received[0]!.at - slow.received[0]!.at;
    assert.ok(waited < 5_000, `the fast receiver's delivery came ${waited} ms after the slow one's`);
  });
});

describe("per-conversation ordering", () => {
  it("holds a conversation's next delivery until the earlier one is delivered", async () => {
    const s = await sink();
    let firstTries = 0;
    s.decide = (raw) => (raw.includes("order-one") && firstTries++ === 0 ? 500 : 200);
    await createHook(a, number, { url: s.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550407100", "order-one");
    await inbound(number, "15550407100", "order-two");
    await s.waitFor((r) => r.filter((x) => x.answered === 200).length === 2);
    const texts = s.received.map((x) => `${(x.body as Json).message.text.body}:${x.answered}`);
    assert.deepEqual(texts, ["order-one:500", "order-one:200", "order-two:200"]);
  });

  it("stops waiting after the ordering cap", async () => {
    const s = await sink();
    s.decide = (raw) => (raw.includes("cap-one") ? 500 : 200);
    await createHook(a, number, { url: s.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550407200", "cap-one");
    const queuedAt = Date.now(); // cap-two is written after this
    await inbound(number, "15550407200", "cap-two");
    await s.waitFor((r) => r.some((x) => x.raw.includes("cap-two")));
    const second = s.received.find((x) => x.raw.includes("cap-two"))!;
    assert.ok(second.at - queuedAt >= 1_500, `waited ${second.at - queuedAt} ms for the earlier delivery`);
    assert.ok(
      s.received.filter((x) => x.raw.includes("cap-one")).length >= 2,
      "the earlier one is still being retried",
    );
  });
});

describe("whatsapp.conversation.inactive", () => {
  it("fires once per webhook after its own silence, counted from the latest message", async () => {
    const short = await sink();
    const long = await sink();
    await createHook(a, number, {
      url: short.url,
      events: ["whatsapp.conversation.inactive"],
      inactivity_minutes: 2,
    });
    await createHook(a, number, {
      url: long.url,
      events: ["whatsapp.conversation.inactive"],
      inactivity_minutes: 4,
    });
    await inbound(number, "15550407300", "still there?");
    await sleep(1_000);
    // Silence counts from the message's time, which Meta gives in whole seconds.
    const latestAt = Math.floor(Date.now() / 1000) * 1000;
    const latest = await inbound(number, "15550407300", "hello?");
    await short.waitFor((r) => r.length === 1);
    await long.waitFor((r) => r.length === 1);
    const body = short.received[0]!.body as Json;
    assert.equal(eventOf(short.received[0]!), "whatsapp.conversation.inactive");
    assert.equal(body.since_message.whatsapp_message_id, latest.wamid);
    assert.equal(body.since_message.direction, "inbound");
    assert.deepEqual(body.inactivity, { minutes: 2 });
    assert.equal(body.phone_number_id, number.phone_number_id);
    assert.equal(body.conversation.phone_number, "15550407300");
    assert.deepEqual((long.received[0]!.body as Json).inactivity, { minutes: 4 });
    // Each webhook keeps its own timer, counted from the latest message (1 minute = 1 s here).
    assert.ok(short.received[0]!.at - latestAt >= 2_000, "not before 2 minutes of silence");
    assert.ok(long.received[0]!.at - latestAt >= 4_000, "not before 4 minutes of silence");

    await sleep(2_500);
    assert.equal(short.received.length, 1, "one notice per silence");
    assert.equal(long.received.length, 1);
    const again = await inbound(number, "15550407300", "back again");
    await short.waitFor((r) => r.length === 2);
    assert.equal((short.received[1]!.body as Json).since_message.whatsapp_message_id, again.wamid);
  });

  it("validates inactivity_minutes and defaults it to 60", async () => {
    const hook = await createHook(a, number, {
      url: "https://example.com/hook",
      events: ["whatsapp.conversation.inactive"],
    });
    assert.equal(hook.inactivity_minutes, 60);
    for (const minutes of [0, 1441, 2.5]) {
      const response = await post(a, numberHooks(number), {
        url: "https://example.com/hook",
        secret_key: "k",
        events: ["whatsapp.conversation.inactive"],
        inactivity_minutes: minutes,
      });
      assert.equal(response.statusCode, 422, String(minutes));
      assert.match(response.json().error, /inactivity_minutes/);
    }
  });
});

describe("buffering", () => {
  it("batches a conversation's received messages per window, leaving early when full", async () => {
    const s = await sink();
    const hook = await createHook(a, number, {
      url: s.url,
      events: ["whatsapp.message.received", "whatsapp.conversation.created"],
      buffer_enabled: true,
      // Long enough that a loaded machine still stores a batch's messages inside one window.
      buffer_window_seconds: 10,
      max_buffer_size: 3,
    });
    assert.deepEqual(hook.buffer_events, ["whatsapp.message.received"]);
    await inbound(number, "15550407400", "batch a1");
    await inbound(number, "15550407400", "batch a2");
    await s.waitFor((r) => r.some((x) => x.headers["x-webhook-batch"] === "true"));
    assert.ok(
      s.received.some((x) => eventOf(x) === "whatsapp.conversation.created"),
      "other events are not buffered",
    );
    const batch = s.received.find((x) => x.headers["x-webhook-batch"] === "true")!;
    assert.equal(eventOf(batch), "whatsapp.message.received");
    assert.equal(batch.headers["x-batch-size"], "2");
    const body = batch.body as Json;
    assert.equal(body.type, "whatsapp.message.received");
    assert.equal(body.batch, true);
    assert.deepEqual(
      body.data.map((d: Json) => d.message.text.body),
      ["batch a1", "batch a2"],
    );
    assert.equal(body.data[0].message.kapso.phone_number_id, number.phone_number_id);
    assert.equal(body.data[0].message.kapso.phone_number, "15550407400");
    assert.equal(body.batch_info.size, 2);
    assert.equal(body.batch_info.window_ms, 10_000);
    assert.equal(body.batch_info.conversation_id, body.data[0].conversation.id);
    assert.ok(body.batch_info.last_sequence > body.batch_info.first_sequence);
    assert.equal(batch.headers["x-webhook-signature"], signWebhookBody("s3cret", batch.raw));

    // When each inbound call began: the message is stored after that, and its window counts
    // from when it was stored.
    const sentAt: number[] = [];
    for (const text of ["b1", "b2", "b3", "b4"]) {
      sentAt.push(Date.now());
      await inbound(number, "15550407400", `batch ${text}`);
    }
    await s.waitFor((r) => r.filter((x) => x.headers["x-webhook-batch"] === "true").length === 3);
    const [, full, rest] = s.received.filter((x) => x.headers["x-webhook-batch"] === "true");
    assert.deepEqual(
      (full!.body as Json).data.map((d: Json) => d.message.text.body),
      ["batch b1", "batch b2", "batch b3"],
    );
    assert.ok(rest!.at - sentAt[3]! >= 9_950, "the rest waits for the window after the last message");
    assert.deepEqual(
      (rest!.body as Json).data.map((d: Json) => d.message.text.body),
      ["batch b4"],
    );
    assert.equal(rest!.headers["x-batch-size"], "1", "with buffering on, a single message is a batch too");
    const log = await t.api(a, {
      method: "GET",
      url: `/platform/v1/webhook_deliveries?webhook_id=${hook.id}&event=whatsapp.message.received`,
    });
    assert.equal(log.json().data.length, 3, "one delivery record per batch");
  });

  it("validates buffering settings", async () => {
    const hook = await createHook(a, number, {
      url: "https://example.com/hook",
      events: ["whatsapp.message.received"],
      buffer_enabled: true,
    });
    assert.equal(hook.buffer_window_seconds, 5);
    assert.equal(hook.max_buffer_size, 50);
    const cases: [string, unknown, RegExp][] = [
      [
        numberHooks(number),
        {
          url: "https://x.example",
          secret_key: "k",
          events: ["whatsapp.message.sent"],
          buffer_events: ["whatsapp.message.sent"],
        },
        /buffer_events\[0\] cannot be buffered/,
      ],
      [
        numberHooks(number),
        {
          url: "https://x.example",
          secret_key: "k",
          events: ["whatsapp.message.received"],
          buffer_window_seconds: 61,
        },
        /buffer_window_seconds/,
      ],
      [
        numberHooks(number),
        {
          url: "https://x.example",
          secret_key: "k",
          events: ["whatsapp.message.received"],
          max_buffer_size: 0,
        },
        /max_buffer_size/,
      ],
      [
        "/whatsapp/webhooks",
        { url: "https://x.example", events: ["whatsapp.phone_number.created"], buffer_enabled: true },
        /buffer_enabled needs phone_number_id/,
      ],
    ];
    for (const [url, body, pattern] of cases) {
      const response = await post(a, url, body);
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.match(response.json().error, pattern);
    }
    const off = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1${numberHooks(number)}/${hook.id}`,
      payload: { whatsapp_webhook: { buffer_enabled: false } },
    });
    assert.equal(off.json().data.buffer_enabled, false);
  });
});

describe("automatic pausing", () => {
  let p: TestApp;
  let project: TestProject;
  let n: PhoneNumberRow;

  before(async () => {
    p = await startTestApp({
      listen: true,
      env: {
        PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1",
        PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS: "0.2",
        PARLEY_WEBHOOK_RETRY_WINDOW_HOURS: "0.001",
        PARLEY_WEBHOOK_RETRY_MAX_DELAY_SECONDS: "0.4",
        PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES: "3",
        PARLEY_WEBHOOK_PAUSE_AFTER_HOURS: "0",
      },
    });
    project = await p.createProject();
    n = await insertSandboxNumber(p, project.projectId);
  });
  after(() => p.close());

  const api = (method: "GET" | "POST" | "PATCH", url: string, payload?: unknown) =>
    p.api(project, { method, url: `/platform/v1${url}`, ...(payload ? { payload } : {}) });
  const say = (text: string) =>
    simulateInbound(p.ctx, {
      phoneNumberId: n.phone_number_id,
      from: "15550408000",
      message: { type: "text", text: { body: text } },
    });

  it("keeps retrying past the listed delays with backoff until the window ends", async () => {
    const s = await sink();
    s.status = 500;
    const hook = (
      await api("POST", "/whatsapp/webhooks", {
        whatsapp_webhook: { url: s.url, events: ["whatsapp.phone_number.created"] },
      })
    ).json().data;
    await api("POST", `/whatsapp/webhooks/${hook.id}/test`);
    const failed = await until(
      async () => (await api("GET", `/webhook_deliveries?webhook_id=${hook.id}`)).json().data[0],
      (d: Json) => d?.status === "failed",
    );
    // The initial attempt and the one listed retry, then at least one in the backoff phase
    // (the last falls at the window's end).
    assert.ok(failed.attempt_count >= 3, `${failed.attempt_count} attempts within the 3.6 s window`);
    const gaps = s.received.slice(1).map((x, i) => x.at - s.received[i]!.at);
    assert.ok(gaps[0]! >= 150, "first retry after the listed 0.2 s");
  });

  it("ends a webhook's failure streak with a success, so failures apart never pause it", async () => {
    const s = await sink();
    let answers = 0;
    s.decide = () => (++answers % 3 === 0 ? 200 : 500);
    const hook = (
      await api("POST", `/whatsapp/phone_numbers/${n.phone_number_id}/webhooks`, {
        whatsapp_webhook: { url: s.url, secret_key: "k", events: ["whatsapp.message.received"] },
      })
    ).json().data;
    const streak = async () => {
      const [row] = await p.ctx.db.query<{ consecutive_failures: number; active: boolean }>(
        sql`SELECT consecutive_failures, active FROM webhooks WHERE id = ${hook.id}`,
      );
      return row!;
    };
    for (const text of ["streak-1", "streak-2"]) {
      await say(text);
      // Two failures, then the third attempt gets through and ends the streak.
      await s.waitFor((r) => r.some((x) => x.answered === 200 && x.raw.includes(text)));
      assert.deepEqual(await until(streak, (w) => w.consecutive_failures === 0), {
        consecutive_failures: 0,
        active: true,
      });
    }
  });

  it("pauses a webhook that keeps failing, holds its deliveries, and resumes on a good test or PATCH", async () => {
    const s = await sink();
    s.status = 500;
    const hook = await (async () => {
      const r = await api("POST", `/whatsapp/phone_numbers/${n.phone_number_id}/webhooks`, {
        whatsapp_webhook: { url: s.url, secret_key: "k", events: ["whatsapp.message.received"] },
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json().data;
    })();
    const hookUrl = `/whatsapp/phone_numbers/${n.phone_number_id}/webhooks/${hook.id}`;
    await say("pause-1");
    const paused = await until(
      async () => (await api("GET", hookUrl)).json().data,
      (w: Json) => w.active === false,
    );
    assert.match(paused.paused_reason, /^3 consecutive failed delivery attempts since .*; last: HTTP 500$/);
    assert.ok(paused.paused_at);
    const attemptsWhenPaused = s.received.length;

    await say("pause-2");
    await sleep(1_000);
    assert.equal(s.received.length, attemptsWhenPaused, "nothing is sent while paused");
    const held = (await api("GET", `/webhook_deliveries?webhook_id=${hook.id}`)).json().data;
    assert.deepEqual(
      held.map((d: Json) => d.status),
      ["pending", "pending"],
      "deliveries are held, not dropped",
    );

    s.status = 200;
    await api("POST", `/whatsapp/webhooks/${hook.id}/test`);
    await until(
      async () =>
        (await api("GET", `/webhook_deliveries?webhook_id=${hook.id}&status=delivered`)).json().data,
      (d: Json[]) => d.length === 3,
    );
    const resumed = (await api("GET", hookUrl)).json().data;
    assert.equal(resumed.active, true);
    assert.equal(resumed.paused_reason, null);
    const okKeys = s.received.filter((x) => x.answered === 200).map((x) => x.headers["x-idempotency-key"]);
    assert.equal(new Set(okKeys).size, okKeys.length, "each delivery reaches the healthy receiver once");

    // Paused again, then resumed through the API.
    s.status = 500;
    await say("pause-3");
    await until(
      async () => (await api("GET", hookUrl)).json().data,
      (w: Json) => w.active === false,
    );
    s.status = 200;
    const patched = await api("PATCH", hookUrl, { whatsapp_webhook: { active: true } });
    assert.equal(patched.json().data.active, true);
    await s.waitFor((r) => r.some((x) => x.answered === 200 && x.raw.includes("pause-3")));

    // A webhook paused through the API collects nothing new.
    await api("PATCH", hookUrl, { whatsapp_webhook: { active: false } });
    await say("pause-4");
    const all = (await api("GET", `/webhook_deliveries?webhook_id=${hook.id}`)).json().data;
    assert.equal(all.length, 4);
    assert.ok(all.every((d: Json) => d.status === "delivered"));
  });
});

describe("a batch that fails for good", () => {
  it("is re-sent as single events, each once, with keys of their own", async () => {
    const s = await sink();
    s.decide = (raw) => ((JSON.parse(raw) as Json).batch === true ? 500 : 200);
    const plain = await sink(); // what the same messages look like without buffering
    const hook = await createHook(a, number, {
      url: s.url,
      events: ["whatsapp.message.received"],
      buffer_enabled: true,
      buffer_window_seconds: 10,
      max_buffer_size: 2,
    });
    await createHook(a, number, { url: plain.url, events: ["whatsapp.message.received"] });
    await inbound(number, "15550407600", "fallback one");
    await inbound(number, "15550407600", "fallback two");

    const singles = () => s.received.filter((x) => x.answered === 200);
    await s.waitFor((r) => r.filter((x) => x.answered === 200).length === 2);
    await plain.waitFor((r) => r.length === 2);
    const batches = s.received.filter((x) => x.headers["x-webhook-batch"] === "true");
    assert.ok(batches.length >= 3, "the batch was retried first");
    assert.equal(new Set(batches.map((x) => x.headers["x-idempotency-key"])).size, 1);
    const batchKey = batches[0]!.headers["x-idempotency-key"];
    assert.deepEqual(
      (batches[0]!.body as Json).data.map((d: Json) => d.message.text.body),
      ["fallback one", "fallback two"],
    );
    assert.ok(
      singles().every((x) => x.at >= batches.at(-1)!.at),
      "singles go out only after the batch's last attempt",
    );

    assert.deepEqual(
      singles().map((x) => (x.body as Json).message.text.body),
      ["fallback one", "fallback two"],
      "in the conversation's order",
    );
    const keys = singles().map((x) => x.headers["x-idempotency-key"]);
    assert.equal(new Set([...keys, batchKey]).size, 3, "each single has a new key");
    for (const single of singles()) {
      assert.equal(single.headers["x-webhook-batch"], undefined);
      assert.equal(single.headers["x-batch-size"], undefined);
      assert.equal(eventOf(single), "whatsapp.message.received");
      assert.equal(single.headers["x-webhook-signature"], signWebhookBody("s3cret", single.raw));
      const body = single.body as Json;
      const twin = plain.received.find((x) => (x.body as Json).message.id === body.message.id)!;
      assert.deepEqual(body, twin.body, "the body a delivery without buffering has");
    }

    const get = (url: string) => t.api(a, { method: "GET", url: `/platform/v1${url}` });
    const records = await until(
      async () => (await get(`/webhook_deliveries?webhook_id=${hook.id}`)).json().data as Json[],
      (d) => d.length === 3 && d.every((x) => x.status !== "pending"),
    );
    const batch = records.find((d) => d.id === batchKey)!;
    assert.equal(batch.status, "failed", "the batch stays listed as failed");
    const detail = (await get(`/webhook_deliveries/${batch.id}`)).json().data;
    assert.deepEqual(detail.resent_as, keys, "the batch names its singles");
    assert.equal(detail.batch_delivery_id, null);
    for (const key of keys) {
      const single = (await get(`/webhook_deliveries/${key}`)).json().data;
      assert.equal(single.status, "delivered");
      assert.equal(single.batch_delivery_id, batch.id);
      assert.deepEqual(single.resent_as, []);
    }

    // Redelivering the failed batch by hand does not split it again.
    await t.api(a, { method: "POST", url: `/platform/v1/webhook_deliveries/${batch.id}/redeliver` });
    await until(
      async () => (await get(`/webhook_deliveries/${batch.id}`)).json().data,
      (d: Json) => d.status === "failed" && d.attempts.length > batch.attempt_count,
    );
    await sleep(1_000);
    assert.equal(singles().length, 2, "each message reached the receiver exactly once");
  });
});

describe("v1 (legacy) payloads", () => {
  it("sends a v1 body with X-Webhook-Payload-Version: v1", async () => {
    const s = await sink();
    const hook = await createHook(a, number, {
      url: s.url,
      events: ["whatsapp.message.received", "whatsapp.conversation.created"],
      payload_version: "v1",
    });
    assert.equal(hook.payload_version, "v1");
    await inbound(number, "15550407700", "legacy hello");
    await s.waitFor((r) => r.some((x) => eventOf(x) === "whatsapp.message.received"));
    const got = s.received.find((x) => eventOf(x) === "whatsapp.message.received")!;
    assert.equal(got.headers["x-webhook-payload-version"], "v1");
    assert.equal(got.headers["x-webhook-signature"], signWebhookBody("s3cret", got.raw));
    const body = got.body as Json;
    assert.equal(body.phone_number_id, undefined, "no v2 top-level phone_number_id");
    assert.equal(body.whatsapp_config_id, number.id);
    assert.deepEqual(body.whatsapp_config, {
      id: number.id,
      name: number.name,
      display_name: number.display_name,
      phone_number_id: number.phone_number_id,
      business_account_id: number.business_account_id,
      display_phone_number: number.display_phone_number,
      display_phone_number_normalized: number.display_phone_number_normalized,
      customer_id: number.customer_id,
      inbound_processing_enabled: number.inbound_processing_enabled,
      calls_enabled: number.calls_enabled,
      created_at: body.whatsapp_config.created_at,
    });
    const { message, conversation } = body;
    assert.equal(message.message_type, "text");
    assert.equal(message.content, "legacy hello");
    assert.equal(message.direction, "inbound");
    assert.equal(message.origin, "cloud_api");
    assert.equal(message.has_media, false);
    assert.deepEqual(message.message_type_data, { body: "legacy hello" });
    assert.equal(message.conversation_phone_number, "15550407700");
    assert.match(message.id, /^wamid\./);
    assert.equal(message.kapso, undefined, "no kapso extension");
    assert.equal(message.type, undefined);
    assert.equal(conversation.whatsapp_config_id, number.id);
    assert.equal(conversation.phone_number_id, undefined);
    assert.equal(conversation.phone_number, "15550407700");
    assert.equal(body.is_new_conversation, true);
    await s.waitFor((r) => r.some((x) => eventOf(x) === "whatsapp.conversation.created"));
    const created = s.received.find((x) => eventOf(x) === "whatsapp.conversation.created")!.body as Json;
    assert.equal(created.whatsapp_config_id, number.id);
    assert.equal(created.conversation.whatsapp_config_id, number.id);

    // The delivery detail shows the bytes that were sent.
    const [record] = await until(
      async () =>
        (
          await t.api(a, {
            method: "GET",
            url: `/platform/v1/webhook_deliveries?webhook_id=${hook.id}&event=whatsapp.message.received&status=delivered`,
          })
        ).json().data as Json[],
      (d) => d.length === 1,
    );
    const detail = (
      await t.api(a, { method: "GET", url: `/platform/v1/webhook_deliveries/${record!.id}` })
    ).json().data;
    assert.equal(detail.request.body, got.raw);

    // Back to v2 on the same webhook.
    const patched = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1${numberHooks(number)}/${hook.id}`,
      payload: { whatsapp_webhook: { payload_version: "v2" } },
    });
    assert.equal(patched.json().data.payload_version, "v2");
    await inbound(number, "15550407700", "modern again");
    await s.waitFor((r) => r.some((x) => x.raw.includes("modern again")));
    const modern = s.received.find((x) => x.raw.includes("modern again"))!;
    assert.equal(modern.headers["x-webhook-payload-version"], "v2");
    assert.equal((modern.body as Json).phone_number_id, number.phone_number_id);
  });

  it("names number lifecycle events whatsapp.config.*", async () => {
    const legacy = await sink();
    const current = await sink();
    const v1 = (
      await post(a, "/whatsapp/webhooks", {
        url: legacy.url,
        events: ["whatsapp.config.created", "whatsapp.config.deleted"],
        payload_version: "v1",
      })
    ).json().data;
    assert.deepEqual(v1.events, ["whatsapp.config.created", "whatsapp.config.deleted"]);
    // A v2 webhook may use the legacy name too; it gets the event under its v2 name.
    await post(a, "/whatsapp/webhooks", { url: current.url, events: ["whatsapp.config.created"] });
    const customer = (
      await t.api(a, {
        method: "POST",
        url: "/platform/v1/customers",
        payload: { customer: { name: "Legacy" } },
      })
    ).json().data;
    const connected = await t.api(a, {
      method: "POST",
      url: `/platform/v1/customers/${customer.id}/whatsapp/phone_numbers`,
      payload: { whatsapp_phone_number: { name: "Legacy line", kind: "sandbox" } },
    });
    assert.equal(connected.statusCode, 201, connected.body);
    const n = connected.json().data;
    await legacy.waitFor((r) => r.length === 1);
    await current.waitFor((r) => r.length === 1);
    const [got] = legacy.received;
    assert.equal(eventOf(got!), "whatsapp.config.created");
    assert.equal(got!.headers["x-webhook-payload-version"], "v1");
    const body = got!.body as Json;
    assert.equal(body.whatsapp_config_id, n.internal_id);
    assert.equal(body.whatsapp_config.phone_number_id, n.phone_number_id);
    assert.equal(body.whatsapp_config.name, "Legacy line");
    assert.deepEqual(body.customer, { id: customer.id });
    assert.deepEqual(body.project, { id: a.projectId });
    assert.equal(body.phone_number_id, undefined);
    assert.equal(eventOf(current.received[0]!), "whatsapp.phone_number.created");
    assert.equal((current.received[0]!.body as Json).phone_number_id, n.phone_number_id);

    const removed = await t.api(a, {
      method: "DELETE",
      url: `/platform/v1/whatsapp/phone_numbers/${n.phone_number_id}`,
    });
    assert.equal(removed.statusCode, 204, removed.body);
    await legacy.waitFor((r) => r.length === 2);
    assert.equal(eventOf(legacy.received[1]!), "whatsapp.config.deleted");
    assert.equal((legacy.received[1]!.body as Json).whatsapp_config.phone_number_id, n.phone_number_id);
    assert.equal(current.received.length, 1, "not subscribed to the deletion");

    const log = await until(
      async () =>
        (
          await t.api(a, {
            method: "GET",
            url: `/platform/v1/webhook_deliveries?webhook_id=${v1.id}&event=whatsapp.config.created`,
          })
        ).json().data as Json[],
      (d) => d.length === 1,
    );
    assert.equal(log[0]!.event, "whatsapp.config.created", "the log names it as the webhook got it");
  });

  it("validates payload_version", async () => {
    for (const version of ["v3", 2, ""]) {
      const response = await post(a, numberHooks(number), {
        url: "https://example.com/hook",
        secret_key: "k",
        events: ["whatsapp.message.received"],
        payload_version: version,
      });
      assert.equal(response.statusCode, 422, JSON.stringify(version));
      assert.match(response.json().error, /whatsapp_webhook\.payload_version/);
    }
    const hook = await createHook(a, number, {
      url: "https://example.com/hook",
      events: ["whatsapp.message.received"],
      payload_version: null,
    });
    assert.equal(hook.payload_version, "v2", "null means the default");
    const patched = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1${numberHooks(number)}/${hook.id}`,
      payload: { whatsapp_webhook: { payload_version: "v1" } },
    });
    assert.equal(patched.json().data.payload_version, "v1");
    const refused = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1${numberHooks(number)}/${hook.id}`,
      payload: { whatsapp_webhook: { payload_version: "v0" } },
    });
    assert.equal(refused.statusCode, 422);
    assert.match(refused.json().error, /whatsapp_webhook\.payload_version/);
    const unsupported = await post(a, "/whatsapp/webhooks", {
      url: "https://example.com/hook",
      events: ["whatsapp.config.updated"],
    });
    assert.equal(unsupported.statusCode, 422);
    assert.match(unsupported.json().error, /events\[0\] is not a supported event/);
    const meta = await createHook(a, await insertSandboxNumber(t, a.projectId), {
      url: "https://example.com/hook",
      kind: "meta",
      payload_version: "v1",
    });
    assert.equal(meta.payload_version, null, "meta webhooks forward Meta's payload: no version");
  });
});
