import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../test/support/app.ts";
import { insertSandboxNumber } from "../../test/support/fixtures.ts";
import { startWebhookSink, type WebhookSink } from "../../test/support/webhook-sink.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { GraphApiError, type GraphTarget } from "../whatsapp/graph-client.ts";
import { graphTargetFor } from "../whatsapp/targets.ts";
import { sandboxAppSecret, verifyMetaSignature } from "../whatsapp/webhook-signature.ts";
import { simulateInbound } from "./inbound.ts";

let t: TestApp;
let sink: WebhookSink;
let project: TestProject;
let other: TestProject;
let number: PhoneNumberRow;
let target: GraphTarget;

type Webhook = {
  object: string;
  entry: {
    id: string;
    changes: {
      field: string;
      value: {
        messaging_product: string;
        metadata: { phone_number_id: string; display_phone_number: string };
        statuses?: Record<string, unknown>[];
        messages?: Record<string, unknown>[];
        contacts?: Record<string, unknown>[];
      };
    }[];
  }[];
};

const webhooks = () => sink.received.map((r) => r.body as Webhook);
const statusesOf = (wamid: string) =>
  webhooks()
    .flatMap((w) => w.entry[0]!.changes[0]!.value.statuses ?? [])
    .filter((s) => s.id === wamid);

async function graphError(promise: Promise<unknown>): Promise<GraphApiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GraphApiError) return err;
    throw err;
  }
  assert.fail("expected the Graph call to fail");
}

const send = (body: Record<string, unknown>, id = number.phone_number_id) =>
  t.ctx.graph.request<{
    messaging_product: string;
    contacts: { input: string; wa_id: string }[];
    messages: { id: string; message_status?: string }[];
  }>(target, { method: "POST", path: `/${id}/messages`, json: { messaging_product: "whatsapp", ...body } });

const text = (to: string, body = "hello") => ({ to, type: "text", text: { body } });

/** `count` recipients starting with `prefix`, as the sandbox normalises them (wa_id). */
const recipients = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(11 - prefix.length, "0")}`);

/** The sandbox's recorded sends among `wamids`, as `recipient wamid`, sorted. */
async function recordedSends(wamids: string[]): Promise<string[]> {
  const rows = await t.ctx.db.query<{ recipient: string; wamid: string }>(
    sql`SELECT recipient, wamid FROM sandbox_sends WHERE wamid = ANY(${wamids}::text[])`,
  );
  return rows.map((r) => `${r.recipient} ${r.wamid}`).sort();
}

before(async () => {
  sink = await startWebhookSink();
  t = await startTestApp({
    listen: true,
    env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10", PARLEY_SANDBOX_WEBHOOK_URL: sink.url },
  });
  project = await t.createProject("Sandbox A");
  other = await t.createProject("Sandbox B");
  number = await insertSandboxNumber(t, project.projectId);
  target = graphTargetFor(t.ctx, number);
});
after(async () => {
  await t.close();
  await sink.close();
});

describe("sandbox messages", () => {
  it("accepts a text send like Meta, records it, and posts signed sent → delivered → read webhooks", async () => {
    const result = await send(text("+1 (555) 123-4567"));
    assert.equal(result.messaging_product, "whatsapp");
    assert.deepEqual(result.contacts, [{ input: "+1 (555) 123-4567", wa_id: "15551234567" }]);
    const wamid = result.messages[0]!.id;
    assert.match(wamid, /^wamid\.[A-Za-z0-9+/=]+$/);
    assert.equal(result.messages[0]!.message_status, undefined);

    const sends = await t.api(project, {
      method: "GET",
      url: `/sandbox/sends?phone_number_id=${number.phone_number_id}&recipient=15551234567`,
    });
    assert.equal(sends.statusCode, 200);
    assert.equal(sends.json().meta.total_count, 1);
    assert.equal(sends.json().data[0].wamid, wamid);
    assert.deepEqual(sends.json().data[0].body.text, { body: "hello" });

    await sink.waitFor(() => statusesOf(wamid).length === 3);
    assert.deepEqual(
      statusesOf(wamid).map((s) => s.status),
      ["sent", "delivered", "read"],
    );
    const secret = await sandboxAppSecret(t.ctx.db);
    const deliveries = sink.received.filter((r) => r.raw.includes(wamid));
    for (const delivery of deliveries) {
      assert.ok(verifyMetaSignature(secret, delivery.raw, delivery.headers["x-hub-signature-256"] as string));
    }
    const hook = deliveries[0]!.body as Webhook;
    assert.equal(hook.object, "whatsapp_business_account");
    assert.equal(hook.entry[0]!.id, "sandbox");
    assert.equal(hook.entry[0]!.changes[0]!.field, "messages");
    const value = hook.entry[0]!.changes[0]!.value;
    assert.equal(value.messaging_product, "whatsapp");
    assert.equal(value.metadata.phone_number_id, number.phone_number_id);
    assert.match(value.metadata.display_phone_number, /^1555\d{7}$/);
    const sent = value.statuses![0]!;
    assert.equal(sent.recipient_id, "15551234567");
    assert.match(String(sent.timestamp), /^\d{10}$/);
    assert.deepEqual(Object.keys(sent.conversation as object).sort(), [
      "expiration_timestamp",
      "id",
      "origin",
    ]);
    assert.deepEqual(sent.pricing, {
      billable: false,
      pricing_model: "PMP",
      category: "service",
      type: "free_customer_service",
    });
  });

  it("records concurrent sends once each and posts each one's statuses, echoing its callback data", async () => {
    const to = recipients("1555701", 20);
    const results = await Promise.all(
      to.map((recipient, i) =>
        send({
          to: recipient,
          type: "template",
          template: { name: "hello_world", language: { code: "en_US" } },
          biz_opaque_callback_data: `callback-${i}`,
        }),
      ),
    );
    const wamids = results.map((r) => r.messages[0]!.id);
    assert.deepEqual(
      await recordedSends(wamids),
      to.map((recipient, i) => `${recipient} ${wamids[i]}`).sort(),
    );
    await sink.waitFor(() => wamids.every((wamid) => statusesOf(wamid).length === 3));
    for (const [i, wamid] of wamids.entries()) {
      assert.deepEqual(
        statusesOf(wamid).map((s) => [s.status, s.biz_opaque_callback_data]),
        ["sent", "delivered", "read"].map((status) => [status, `callback-${i}`]),
      );
    }
  });

  it("validates templates against the number's WABA: existence, language, approval and parameter count", async () => {
    const hello = await send({
      to: "15550001111",
      type: "template",
      template: { name: "hello_world", language: { code: "en_US" } },
    });
    assert.equal(hello.messages[0]!.message_status, "accepted");
    await sink.waitFor(() => statusesOf(hello.messages[0]!.id).length >= 1);
    const pricing = statusesOf(hello.messages[0]!.id)[0]!.pricing as Record<string, unknown>;
    assert.equal(pricing.category, "utility");
    assert.equal(pricing.billable, true);

    const promo = await send({
      to: "15550001111",
      type: "template",
      template: {
        name: "seasonal_promotion",
        language: { code: "en_US" },
        components: [
          {
            type: "body",
            parameters: [
              { type: "text", text: "May" },
              { type: "text", text: "X" },
            ],
          },
        ],
      },
    });
    assert.ok(promo.messages[0]!.id);

    const wrongCount = await graphError(
      send({
        to: "15550001111",
        type: "template",
        template: {
          name: "order_update",
          language: { code: "en_US" },
          components: [{ type: "body", parameters: [] }],
        },
      }),
    );
    assert.equal(wrongCount.status, 400);
    assert.equal(wrongCount.error.code, 132000);
    assert.match(JSON.stringify(wrongCount.error.error_data), /expected number of params \(1\)/);

    const missing = await graphError(
      send({ to: "15550001111", type: "template", template: { name: "nope", language: { code: "en_US" } } }),
    );
    assert.equal(missing.error.code, 132001);
    assert.equal(missing.status, 404);
    const language = await graphError(
      send({
        to: "15550001111",
        type: "template",
        template: { name: "hello_world", language: { code: "pt_BR" } },
      }),
    );
    assert.equal(language.error.code, 132001);
  });

  it("checks concurrent template sends each against its own template", async () => {
    const template = (name: string, code: string, components?: unknown[]) =>
      send({ to: "15550001112", type: "template", template: { name, language: { code }, components } });
    const outcomes = await Promise.allSettled([
      template("hello_world", "en_US"),
      template("nope", "en_US"),
      template("order_update", "en_US", [{ type: "body", parameters: [{ type: "text", text: "#7" }] }]),
      template("hello_world", "pt_BR"),
      template("order_update", "en_US", [{ type: "body", parameters: [] }]),
      template("hello_world", "en_US"),
    ]);
    const codes = outcomes.map((o) =>
      o.status === "fulfilled" ? o.value.messages[0]!.message_status : (o.reason as GraphApiError).error.code,
    );
    assert.deepEqual(codes, ["accepted", 132001, "accepted", 132001, 132000, "accepted"]);
  });

  it("refuses malformed sends with Meta's codes and records nothing", async () => {
    const before = (
      await t.api(project, { method: "GET", url: `/sandbox/sends?phone_number_id=${number.phone_number_id}` })
    ).json().meta.total_count;
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ messaging_product: "sms", ...text("15550001111") }, 100, /Invalid parameter/],
      [{ type: "text", text: { body: "x" } }, 100, /parameter to is required/],
      [{ to: "15550001111", type: "text", text: {} }, 100, /text\['body'\] is required/],
      [{ to: "15550001111", type: "image" }, 100, /parameter image is required/],
      [{ to: "15550001111", type: "image", image: { id: "999" } }, 100, /Invalid parameter/],
      [{ to: "15550001111", type: "fax", fax: {} }, 100, /Invalid parameter/],
      [{ to: "not a number", type: "text", text: { body: "x" } }, 100, /Invalid parameter/],
      [
        {
          to: "15550001111",
          type: "interactive",
          interactive: { type: "button", body: { text: "Pick" }, action: { buttons: [] } },
        },
        100,
        /Invalid parameter/,
      ],
    ];
    for (const [body, code, message] of cases) {
      const err = await graphError(send(body));
      assert.equal(err.status, 400, JSON.stringify(body));
      assert.equal(err.error.code, code, JSON.stringify(body));
      assert.match(err.error.message, message, JSON.stringify(body));
      assert.equal(err.error.type, "OAuthException");
      assert.ok(err.error.fbtrace_id);
    }
    const after = (
      await t.api(project, { method: "GET", url: `/sandbox/sends?phone_number_id=${number.phone_number_id}` })
    ).json().meta.total_count;
    assert.equal(after, before);
  });

  it("accepts every message type Meta documents", async () => {
    const bodies = [
      { to: "15550002222", type: "location", location: { latitude: 1.5, longitude: "2.5", name: "HQ" } },
      { to: "15550002222", type: "contacts", contacts: [{ name: { formatted_name: "Ann" } }] },
      { to: "15550002222", type: "reaction", reaction: { message_id: "wamid.X", emoji: "👍" } },
      { to: "15550002222", type: "image", image: { link: "https://example.com/a.jpg", caption: "A" } },
      {
        to: "15550002222",
        type: "interactive",
        interactive: {
          type: "list",
          body: { text: "Choose" },
          action: { button: "Options", sections: [{ title: "S", rows: [{ id: "a", title: "A" }] }] },
        },
      },
      {
        to: "15550002222",
        type: "interactive",
        interactive: {
          type: "cta_url",
          body: { text: "Visit" },
          action: { name: "cta_url", parameters: { display_text: "Go", url: "https://example.com" } },
        },
      },
      { to: "15550002222", text: { body: "type defaults to text" }, context: { message_id: "wamid.Y" } },
    ];
    for (const body of bodies) {
      const result = await send(body);
      assert.ok(result.messages[0]!.id, JSON.stringify(body));
    }
  });

  it("marks messages read and shows typing with {success: true}, without a send", async () => {
    assert.deepEqual(await send({ status: "read", message_id: "wamid.IN" }), { success: true });
    assert.deepEqual(
      await send({ status: "read", message_id: "wamid.IN", typing_indicator: { type: "text" } }),
      { success: true },
    );
    const err = await graphError(send({ status: "read" }));
    assert.match(err.error.message, /message_id is required/);
  });

  it("answers 401 with Meta's code 190 for a token the sandbox does not accept", async () => {
    const err = await graphError(
      t.ctx.graph.request({ ...target, accessToken: "EAAB-real" }, { path: `/${number.phone_number_id}` }),
    );
    assert.equal(err.status, 401);
    assert.equal(err.error.code, 190);
    const unknownPath = await fetch(`${t.baseUrl}/sandbox/graph/v24.0/1/nothing_here`, {
      headers: { authorization: "Bearer sandbox" },
    });
    assert.equal(unknownPath.status, 400);
    assert.equal((await unknownPath.json()).error.code, 3);
    const badVersion = await fetch(`${t.baseUrl}/sandbox/graph/latest/1`, {
      headers: { authorization: "Bearer sandbox" },
    });
    assert.equal(badVersion.status, 400);
  });
});

describe("sandbox failure injection", () => {
  const inject = (p: TestProject, payload: Record<string, unknown>) =>
    t.api(p, { method: "POST", url: "/sandbox/failures", payload });

  it("makes the next N sends fail synchronously with the given Meta error", async () => {
    const created = await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: { code: 131026 },
      remaining: 2,
    });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().data.http_status, 400);
    assert.equal(created.json().data.error.message, "Message undeliverable");
    for (let i = 0; i < 2; i++) {
      const err = await graphError(send(text("15550003333")));
      assert.equal(err.status, 400);
      assert.equal(err.error.code, 131026);
      assert.equal(err.error.message, "Message undeliverable");
    }
    assert.ok((await send(text("15550003333"))).messages[0]!.id);
    const sends = await t.api(project, {
      method: "GET",
      url: `/sandbox/sends?phone_number_id=${number.phone_number_id}&recipient=15550003333`,
    });
    assert.equal(sends.json().meta.total_count, 1, "refused sends are not recorded");
  });

  it("answers throttling codes 130429 (HTTP 429) and 131056", async () => {
    await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: { code: 130429 },
    });
    const throttled = await fetch(`${t.baseUrl}/sandbox/graph/v24.0/${number.phone_number_id}/messages`, {
      method: "POST",
      headers: { authorization: "Bearer sandbox", "content-type": "application/json" },
      body: JSON.stringify({ messaging_product: "whatsapp", ...text("15550004444") }),
    });
    assert.equal(throttled.status, 429);
    assert.equal((await throttled.json()).error.code, 130429);
    await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: { code: 131056, error_subcode: 2494100 },
      http_status: 400,
    });
    const pair = await graphError(send(text("15550004444")));
    assert.equal(pair.status, 400);
    assert.equal(pair.error.code, 131056);
    assert.equal(pair.error.error_subcode, 2494100);
  });

  it("accepts the send and posts a failed status with errors[] in async mode", async () => {
    await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      mode: "async",
      error: { code: 131049, error_data: { details: "ecosystem" } },
    });
    const wamid = (await send(text("15550005555"))).messages[0]!.id;
    await sink.waitFor(() => statusesOf(wamid).length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    const statuses = statusesOf(wamid);
    assert.deepEqual(
      statuses.map((s) => s.status),
      ["failed"],
    );
    const [error] = statuses[0]!.errors as Record<string, unknown>[];
    assert.equal(error!.code, 131049);
    assert.equal(error!.message, "This message was not delivered to maintain healthy ecosystem engagement.");
    assert.deepEqual(error!.error_data, { details: "ecosystem" });
  });

  // A use that one send holds locked is skipped by a concurrent one (consumeFailure's SKIP
  // LOCKED), so on PostgreSQL fewer than N of a burst may fail; each use taken fails exactly one.
  it("fails one of concurrent sends per use taken, synchronously or asynchronously", async () => {
    const failing = await insertSandboxNumber(t, project.projectId);
    const usesTaken = async (mode: string, injected: number) => {
      const [row] = await t.ctx.db.query<{ remaining: number }>(sql`
        SELECT remaining FROM sandbox_failures WHERE phone_number_id = ${failing.phone_number_id} AND mode = ${mode}`);
      return injected - row!.remaining;
    };
    const injectSend = (mode: string, code: number) =>
      inject(project, {
        phone_number_id: failing.phone_number_id,
        operation: "send",
        mode,
        error: { code },
        remaining: 3,
      });

    assert.equal((await injectSend("sync", 131026)).statusCode, 201);
    const syncTo = recipients("1555702", 10);
    const syncResults = await Promise.allSettled(
      syncTo.map((recipient) => send(text(recipient), failing.phone_number_id)),
    );
    const refused = syncResults.filter((r) => r.status === "rejected");
    assert.ok(refused.length >= 1);
    assert.equal(refused.length, await usesTaken("sync", 3));
    for (const { reason } of refused) assert.equal((reason as GraphApiError).error.code, 131026);
    const accepted = syncResults.flatMap((r, i) =>
      r.status === "fulfilled" ? [`${syncTo[i]} ${r.value.messages[0]!.id}`] : [],
    );
    assert.deepEqual(await recordedSends(accepted.map((a) => a.split(" ")[1]!)), accepted.sort());

    assert.equal((await injectSend("async", 131049)).statusCode, 201);
    const asyncResults = await Promise.all(
      recipients("1555703", 10).map((recipient) => send(text(recipient), failing.phone_number_id)),
    );
    const wamids = asyncResults.map((r) => r.messages[0]!.id);
    assert.equal((await recordedSends(wamids)).length, 10);
    const outcome = () =>
      wamids.map((wamid) =>
        statusesOf(wamid)
          .map((s) => s.status)
          .join(","),
      );
    await sink.waitFor(() => outcome().every((o) => o === "failed" || o === "sent,delivered,read"));
    const failed = outcome().filter((o) => o === "failed").length;
    assert.ok(failed >= 1);
    assert.equal(failed, await usesTaken("async", 3));
  });

  it("validates injections and keeps them to the caller's own numbers", async () => {
    const foreign = await inject(other, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: { code: 131026 },
    });
    assert.equal(foreign.statusCode, 404);
    const noKey = await t.request({ method: "POST", url: "/sandbox/failures", payload: {} });
    assert.equal(noKey.statusCode, 401);
    const asyncMedia = await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "media",
      mode: "async",
      error: { code: 131053 },
    });
    assert.equal(asyncMedia.statusCode, 422);
    const badOperation = await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "explode",
      error: { code: 1 },
    });
    assert.equal(badOperation.statusCode, 422);
    assert.match(badOperation.json().error, /operation/);
    const noCode = await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: {},
    });
    assert.equal(noCode.statusCode, 422);
    assert.match(noCode.json().error, /error\.code is required/);

    await inject(project, {
      phone_number_id: number.phone_number_id,
      operation: "send",
      error: { code: 131026 },
    });
    const cleared = await t.api(project, {
      method: "DELETE",
      url: `/sandbox/failures?phone_number_id=${number.phone_number_id}`,
    });
    assert.equal(cleared.statusCode, 204);
    assert.ok((await send(text("15550006666"))).messages[0]!.id);

    const foreignSends = await t.api(other, {
      method: "GET",
      url: `/sandbox/sends?phone_number_id=${number.phone_number_id}`,
    });
    assert.equal(foreignSends.statusCode, 404);
  });
});

describe("sandbox media", () => {
  it("uploads (multipart), describes, downloads with the token, and deletes media", async () => {
    const bytes = Buffer.from("\x89PNG fake image bytes");
    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("type", "image/png");
    form.set("file", new Blob([bytes], { type: "image/png" }), "a.png");
    const { id } = await t.ctx.graph.request<{ id: string }>(target, {
      method: "POST",
      path: `/${number.phone_number_id}/media`,
      form,
    });
    assert.match(id, /^\d+$/);
    const meta = await t.ctx.graph.request<Record<string, unknown>>(target, { path: `/${id}` });
    assert.equal(meta.id, id);
    assert.equal(meta.messaging_product, "whatsapp");
    assert.equal(meta.mime_type, "image/png");
    assert.equal(meta.file_size, bytes.length);
    assert.match(String(meta.sha256), /^[0-9a-f]{64}$/);
    const download = await t.ctx.graph.download(target, String(meta.url));
    assert.deepEqual(Buffer.from(await download.body.arrayBuffer()), bytes);
    assert.equal((await fetch(String(meta.url))).status, 401, "the URL needs the bearer token");

    // Meta's optional phone_number_id check: another number's media is an unknown object.
    const scoped = await t.ctx.graph.request<{ id: string }>(target, {
      path: `/${id}`,
      query: { phone_number_id: number.phone_number_id },
    });
    assert.equal(scoped.id, id);
    const elsewhere = await graphError(
      t.ctx.graph.request(target, { path: `/${id}`, query: { phone_number_id: "123456789012345" } }),
    );
    assert.equal(elsewhere.error.error_subcode, 33);
    const notDeleted = await graphError(
      t.ctx.graph.request(target, {
        method: "DELETE",
        path: `/${id}`,
        query: { phone_number_id: "123456789012345" },
      }),
    );
    assert.equal(notDeleted.error.code, 100);

    const sent = await send({ to: "15550007777", type: "image", image: { id } });
    assert.ok(sent.messages[0]!.id);

    assert.deepEqual(await t.ctx.graph.request(target, { method: "DELETE", path: `/${id}` }), {
      success: true,
    });
    const gone = await graphError(t.ctx.graph.request(target, { path: `/${id}` }));
    assert.equal(gone.error.code, 100);
    assert.equal(gone.error.error_subcode, 33);
    const unusable = await graphError(send({ to: "15550007777", type: "image", image: { id } }));
    assert.equal(unusable.error.code, 100);
  });

  it("refuses uploads without a file, of an unsupported type, or without messaging_product", async () => {
    const upload = (fields: Record<string, string>, file?: Blob) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.set(k, v);
      if (file) form.set("file", file, "f.bin");
      return graphError(
        t.ctx.graph.request(target, { method: "POST", path: `/${number.phone_number_id}/media`, form }),
      );
    };
    assert.match((await upload({ messaging_product: "whatsapp", type: "image/png" })).error.message, /file/);
    assert.match(
      (await upload({ messaging_product: "whatsapp", type: "application/x-msdownload" }, new Blob(["MZ"])))
        .error.message,
      /one of the following types/,
    );
    assert.match((await upload({ type: "image/png" }, new Blob(["x"]))).error.message, /messaging_product/);
  });
});

describe("sandbox resumable uploads", () => {
  it("opens a session on an app, takes the bytes at their offset, and answers a handle", async () => {
    const bytes = Buffer.from("%PDF-1.4 a small document");
    const session = await t.ctx.graph.request<{ id: string }>(target, {
      method: "POST",
      path: "/sandbox-app/uploads",
      query: { file_name: "a.pdf", file_length: bytes.length, file_type: "application/pdf" },
    });
    assert.match(session.id, /^upload:/);
    const part = (offset: number, data: Buffer) =>
      t.ctx.graph.request<Record<string, unknown>>(target, {
        method: "POST",
        path: `/${session.id}`,
        bytes: new Blob([new Uint8Array(data)]),
        headers: { file_offset: String(offset) },
        authScheme: "OAuth",
      });
    assert.deepEqual(await part(0, bytes.subarray(0, 5)), { id: session.id, file_offset: 5 });
    const misplaced = await graphError(part(0, bytes.subarray(5)));
    assert.equal(misplaced.error.code, 100);
    assert.match(String((misplaced.error.error_data as { details: string }).details), /stands at 5/);
    assert.deepEqual(await t.ctx.graph.request(target, { path: `/${session.id}` }), {
      id: session.id,
      file_offset: 5,
    });
    const done = await part(5, bytes.subarray(5));
    assert.match(String(done.h), /^4::YXBwbGljYXRpb24vcGRm:/);
  });

  it("refuses sessions Meta would refuse, and unknown sessions", async () => {
    const open = (query: Record<string, string | number>) =>
      graphError(t.ctx.graph.request(target, { method: "POST", path: "/sandbox-app/uploads", query }));
    assert.match((await open({ file_length: 1, file_type: "image/png" })).error.message, /file_name/);
    const wrongType = await open({ file_name: "a", file_length: 1, file_type: "text/plain" });
    assert.match((wrongType.error.error_data as { details: string }).details, /^file_type: must be one of/);
    assert.equal((await open({ file_name: "a", file_length: 0, file_type: "image/png" })).error.code, 100);
    const unknown = await graphError(t.ctx.graph.request(target, { path: "/upload:nope" }));
    assert.equal(unknown.error.error_subcode, 33);
  });
});

describe("sandbox templates", () => {
  const waba = "waba-templates-test";
  const templates = (query = "") =>
    t.ctx.graph.request<{ data: Record<string, unknown>[]; paging: Record<string, unknown> }>(target, {
      path: `/${waba}/message_templates${query}`,
    });

  it("seeds each WABA with hello_world, seasonal_promotion and order_update, and pages like Meta", async () => {
    const all = await templates();
    assert.deepEqual(all.data.map((x) => x.name).sort(), [
      "hello_world",
      "order_update",
      "seasonal_promotion",
    ]);
    const promo = all.data.find((x) => x.name === "seasonal_promotion")!;
    assert.equal(promo.category, "MARKETING");
    assert.equal(promo.status, "APPROVED");
    assert.equal(promo.language, "en_US");

    const first = await t.ctx.graph.request<{
      data: { id: string }[];
      paging: { cursors: { after: string }; next?: string };
    }>(target, { path: `/${waba}/message_templates`, query: { limit: 2 } });
    assert.equal(first.data.length, 2);
    assert.ok(first.paging.next);
    const second = await t.ctx.graph.request<{
      data: { id: string }[];
      paging: { next?: string; previous?: string };
    }>(target, {
      path: `/${waba}/message_templates`,
      query: { limit: 2, after: first.paging.cursors.after },
    });
    assert.equal(second.data.length, 1);
    assert.equal(second.paging.next, undefined);
    assert.ok(second.paging.previous);
    assert.ok(!first.data.some((x) => x.id === second.data[0]!.id));

    const utility = await templates("?category=UTILITY");
    assert.equal(utility.data.length, 2);
  });

  it("creates templates approved at once, refuses duplicates, and deletes by name", async () => {
    const created = await t.ctx.graph.request<{ id: string; status: string; category: string }>(target, {
      method: "POST",
      path: `/${waba}/message_templates`,
      json: {
        name: "welcome_back",
        language: "en_US",
        category: "marketing",
        components: [{ type: "BODY", text: "Welcome back {{1}}!" }],
      },
    });
    assert.equal(created.status, "APPROVED");
    assert.equal(created.category, "MARKETING");
    const one = await t.ctx.graph.request<Record<string, unknown>>(target, { path: `/${created.id}` });
    assert.equal(one.name, "welcome_back");

    const duplicate = await graphError(
      t.ctx.graph.request(target, {
        method: "POST",
        path: `/${waba}/message_templates`,
        json: {
          name: "welcome_back",
          language: "en_US",
          category: "MARKETING",
          components: [{ type: "BODY", text: "x" }],
        },
      }),
    );
    assert.equal(duplicate.error.error_subcode, 2388024);

    const invalid = await graphError(
      t.ctx.graph.request(target, {
        method: "POST",
        path: `/${waba}/message_templates`,
        json: { name: "Bad Name", language: "en_US", category: "MARKETING", components: [] },
      }),
    );
    assert.equal(invalid.error.code, 100);

    assert.deepEqual(
      await t.ctx.graph.request(target, {
        method: "DELETE",
        path: `/${waba}/message_templates`,
        query: { name: "welcome_back" },
      }),
      { success: true },
    );
    const again = await graphError(
      t.ctx.graph.request(target, {
        method: "DELETE",
        path: `/${waba}/message_templates`,
        query: { name: "welcome_back" },
      }),
    );
    assert.equal(again.error.code, 100);
    assert.deepEqual((await templates("?name=welcome_back")).data, []);
  });

  it("rejects a new template when a template failure is injected, and refuses sending it", async () => {
    const wabaNumber = await insertSandboxNumber(t, project.projectId, {
      business_account_id: "waba-rejects",
    });
    const inject = (mode: string) =>
      t.api(project, {
        method: "POST",
        url: "/sandbox/failures",
        payload: {
          phone_number_id: wabaNumber.phone_number_id,
          operation: "template",
          mode,
          error: { code: 100 },
        },
      });
    const create = (name: string) =>
      t.ctx.graph.request<{ id: string; status: string }>(target, {
        method: "POST",
        path: "/waba-rejects/message_templates",
        json: { name, language: "en_US", category: "UTILITY", components: [{ type: "BODY", text: "Hi" }] },
      });
    assert.equal((await inject("async")).statusCode, 201);
    const rejected = await create("will_be_rejected");
    assert.equal(rejected.status, "REJECTED");
    const listed = await t.ctx.graph.request<{ data: Record<string, unknown>[] }>(target, {
      path: "/waba-rejects/message_templates",
      query: { status: "REJECTED" },
    });
    assert.deepEqual(
      listed.data.map((x) => [x.name, x.rejected_reason]),
      [["will_be_rejected", "INVALID_FORMAT"]],
    );
    const notApproved = await graphError(
      send(
        {
          to: "15550008888",
          type: "template",
          template: { name: "will_be_rejected", language: { code: "en_US" } },
        },
        wabaNumber.phone_number_id,
      ),
    );
    assert.equal(notApproved.error.code, 132001);

    assert.equal((await inject("sync")).statusCode, 201);
    const refused = await graphError(create("refused_at_once"));
    assert.equal(refused.error.code, 100);
    assert.equal((await create("approved_later")).status, "APPROVED");
  });
});

describe("sandbox numbers and accounts", () => {
  it("reads a number like Meta, with fields selection", async () => {
    const info = await t.ctx.graph.request<Record<string, unknown>>(target, {
      path: `/${number.phone_number_id}`,
    });
    assert.equal(info.id, number.phone_number_id);
    for (const field of [
      "display_phone_number",
      "verified_name",
      "quality_rating",
      "code_verification_status",
      "name_status",
      "platform_type",
      "throughput",
      "messaging_limit_tier",
    ]) {
      assert.ok(info[field] !== undefined, field);
    }
    assert.equal(info.quality_rating, "GREEN");
    const some = await t.ctx.graph.request<Record<string, unknown>>(target, {
      path: `/${number.phone_number_id}`,
      query: { fields: "verified_name,health_status" },
    });
    assert.deepEqual(Object.keys(some).sort(), ["health_status", "id", "verified_name"]);
    const bad = await graphError(
      t.ctx.graph.request(target, { path: `/${number.phone_number_id}`, query: { fields: "shoe_size" } }),
    );
    assert.match(bad.error.message, /nonexisting field \(shoe_size\)/);
    const notANumber = await graphError(t.ctx.graph.request(target, { path: "/abc" }));
    assert.equal(notANumber.error.error_subcode, 33);
  });

  it("registers, keeps a business profile, subscribes apps and lists a WABA's numbers", async () => {
    const id = number.phone_number_id;
    assert.deepEqual(
      await t.ctx.graph.request(target, {
        method: "POST",
        path: `/${id}/register`,
        json: { messaging_product: "whatsapp", pin: "123456" },
      }),
      { success: true },
    );
    const noPin = await graphError(
      t.ctx.graph.request(target, {
        method: "POST",
        path: `/${id}/register`,
        json: { messaging_product: "whatsapp" },
      }),
    );
    assert.match(noPin.error.message, /pin/);
    await t.ctx.graph.request(target, {
      method: "POST",
      path: `/${id}/whatsapp_business_profile`,
      json: { messaging_product: "whatsapp", about: "We sell shoes", websites: ["https://shoes.example"] },
    });
    const profile = await t.ctx.graph.request<{ data: Record<string, unknown>[] }>(target, {
      path: `/${id}/whatsapp_business_profile`,
      query: { fields: "about,websites" },
    });
    assert.deepEqual(profile.data, [
      { messaging_product: "whatsapp", about: "We sell shoes", websites: ["https://shoes.example"] },
    ]);

    assert.deepEqual((await t.ctx.graph.request(target, { path: "/sandbox/subscribed_apps" })) as object, {
      data: [],
    });
    await t.ctx.graph.request(target, { method: "POST", path: "/sandbox/subscribed_apps" });
    const apps = await t.ctx.graph.request<{ data: unknown[] }>(target, { path: "/sandbox/subscribed_apps" });
    assert.equal(apps.data.length, 1);
    const numbers = await t.ctx.graph.request<{ data: { id: string }[] }>(target, {
      path: "/sandbox/phone_numbers",
    });
    assert.ok(numbers.data.some((n) => n.id === id));
  });

  it("exchanges sandbox-… codes for tokens and debugs tokens", async () => {
    const exchanged = await fetch(`${t.baseUrl}/sandbox/graph/v24.0/oauth/access_token?code=sandbox-abc`);
    assert.equal(exchanged.status, 200);
    const { access_token } = (await exchanged.json()) as { access_token: string };
    assert.match(access_token, /^sandbox/);
    const refused = await fetch(`${t.baseUrl}/sandbox/graph/v24.0/oauth/access_token?code=real-code`);
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: { code: number } }).error.code, 100);

    const debug = await t.ctx.graph.request<{ data: { is_valid: boolean } }>(
      { ...target, accessToken: access_token },
      { path: "/debug_token", query: { input_token: access_token } },
    );
    assert.equal(debug.data.is_valid, true);
    const invalid = await t.ctx.graph.request<{ data: { is_valid: boolean } }>(target, {
      path: "/debug_token",
      query: { input_token: "EAAB" },
    });
    assert.equal(invalid.data.is_valid, false);
  });
});

describe("sandbox embedded signup", () => {
  it("plays Meta's side of a simulated signup: token, granted WABA, its number, and scripted refusals", async () => {
    const exchange = async (code: string) => {
      const response = await fetch(
        `${t.baseUrl}/sandbox/graph/v24.0/oauth/access_token?client_id=1&client_secret=s&code=${code}`,
      );
      return {
        status: response.status,
        body: (await response.json()) as {
          access_token: string;
          error: { error_subcode?: number };
        },
      };
    };
    const { body } = await exchange("sandbox-signup-1");
    assert.match(body.access_token, /^sandbox-token-[0-9a-f]{32}$/);
    assert.equal(
      (await exchange("sandbox-signup-1")).body.access_token,
      body.access_token,
      "derived from the code",
    );

    // debug_token takes the app's own token (`{app_id}|{app_secret}`), as Meta wants.
    const appTarget = { ...target, accessToken: "1234|app-secret" };
    const debug = await t.ctx.graph.request<{
      data: { is_valid: boolean; granular_scopes: { scope: string; target_ids: string[] }[] };
    }>(appTarget, { path: "/debug_token", query: { input_token: body.access_token } });
    assert.equal(debug.data.is_valid, true);
    const [waba] = debug.data.granular_scopes.find(
      (s) => s.scope === "whatsapp_business_management",
    )!.target_ids;
    assert.match(waba!, /^\d{15}$/);
    const customer = { ...target, accessToken: body.access_token };
    const numbers = await t.ctx.graph.request<{ data: { id: string; display_phone_number: string }[] }>(
      customer,
      {
        path: `/${waba}/phone_numbers`,
      },
    );
    assert.equal(numbers.data.length, 1);
    const [number] = numbers.data;
    assert.match(number!.id, /^\d{15}$/);
    assert.deepEqual(
      await t.ctx.graph.request(customer, {
        method: "POST",
        path: `/${number!.id}/register`,
        json: { messaging_product: "whatsapp", pin: "123456" },
      }),
      { success: true },
    );
    const refusedApp = await graphError(
      t.ctx.graph.request(
        { ...target, accessToken: "EAAB" },
        { path: "/debug_token", query: { input_token: "x" } },
      ),
    );
    assert.equal(refusedApp.error.code, 190);

    const expired = await exchange("sandbox-expired-1");
    assert.equal(expired.status, 400);
    assert.equal(expired.body.error.error_subcode, 36007);
    const noWaba = (await exchange("sandbox-no-waba-1")).body.access_token;
    const none = await t.ctx.graph.request<{ data: { granular_scopes: { target_ids: string[] }[] } }>(
      appTarget,
      {
        path: "/debug_token",
        query: { input_token: noWaba },
      },
    );
    assert.deepEqual(none.data.granular_scopes[0]!.target_ids, []);
    const pin = (await exchange("sandbox-pin-mismatch-1")).body.access_token;
    const refused = await graphError(
      t.ctx.graph.request(
        { ...target, accessToken: pin },
        {
          method: "POST",
          path: `/${number!.id}/register`,
          json: { messaging_product: "whatsapp", pin: "123456" },
        },
      ),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.error.code, 133005);
  });
});

describe("sandbox inbound", () => {
  it("posts a signed Meta inbound message webhook to the receiver", async () => {
    const response = await t.api(project, {
      method: "POST",
      url: "/sandbox/inbound",
      payload: {
        phone_number_id: number.phone_number_id,
        from: "+1 555 987 6543",
        profile_name: "Ann",
        text: "hi",
      },
    });
    assert.equal(response.statusCode, 200);
    const { wamid, receiver_status } = response.json().data;
    assert.equal(receiver_status, 200);
    const delivery = sink.received.find((r) => r.raw.includes(wamid))!;
    assert.ok(
      verifyMetaSignature(
        await sandboxAppSecret(t.ctx.db),
        delivery.raw,
        delivery.headers["x-hub-signature-256"] as string,
      ),
    );
    const value = (delivery.body as Webhook).entry[0]!.changes[0]!.value;
    assert.deepEqual(value.contacts, [{ profile: { name: "Ann" }, wa_id: "15559876543" }]);
    const [message] = value.messages!;
    assert.equal(message!.from, "15559876543");
    assert.equal(message!.id, wamid);
    assert.equal(message!.type, "text");
    assert.deepEqual(message!.text, { body: "hi" });
    assert.match(String(message!.timestamp), /^\d{10}$/);
  });

  it("simulates any message type and any webhook value; simulateInbound is callable directly", async () => {
    const result = await simulateInbound(t.ctx, {
      phoneNumberId: number.phone_number_id,
      from: "15550009999",
      message: { type: "location", location: { latitude: 1, longitude: 2 } },
    });
    assert.equal(result.receiver_status, 200);
    const raw = await t.api(project, {
      method: "POST",
      url: "/sandbox/inbound",
      payload: {
        phone_number_id: number.phone_number_id,
        value: { statuses: [{ id: "wamid.Z", status: "read" }] },
      },
    });
    assert.equal(raw.statusCode, 200);
    assert.ok(sink.received.some((r) => r.raw.includes("wamid.Z")));
  });

  it("refuses bad requests and reports a refusing receiver as 502", async () => {
    const post = (p: TestProject, payload: Record<string, unknown>) =>
      t.api(p, { method: "POST", url: "/sandbox/inbound", payload });
    assert.equal(
      (await post(other, { phone_number_id: number.phone_number_id, from: "155500", text: "x" })).statusCode,
      404,
    );
    assert.equal(
      (await post(project, { phone_number_id: number.phone_number_id, from: "155500" })).statusCode,
      422,
    );
    assert.equal(
      (await post(project, { phone_number_id: number.phone_number_id, text: "x" })).statusCode,
      422,
    );
    assert.equal(
      (await post(project, { phone_number_id: number.phone_number_id, from: "call me", text: "x" }))
        .statusCode,
      422,
    );
    sink.status = 500;
    try {
      const refused = await post(project, {
        phone_number_id: number.phone_number_id,
        from: "15550001234",
        text: "x",
      });
      assert.equal(refused.statusCode, 502);
      assert.match(refused.json().error, /answered 500/);
    } finally {
      sink.status = 200;
    }
  });
});
