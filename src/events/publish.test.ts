import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp } from "../../test/support/app.ts";
import { insertSandboxNumber } from "../../test/support/fixtures.ts";
import { EVENTS_CHANNEL, type EventNotice, publishEvents } from "./publish.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("event outbox", () => {
  it("fans events out to the webhooks that want them, announced only when the transaction commits", async () => {
    const { projectId } = await t.createProject();
    await t.ctx.db.query(sql`
      INSERT INTO webhooks (project_id, url, events, secret_key)
      VALUES (${projectId}, 'https://example.com/hook', ARRAY['whatsapp.phone_number.created'], 'k')`);
    const heard: EventNotice[] = [];
    const unlisten = await t.ctx.db.listen(EVENTS_CHANNEL, (payload) => heard.push(JSON.parse(payload)));
    try {
      await assert.rejects(
        t.ctx.db.transaction(async (tx) => {
          await publishEvents(tx, [{ type: "whatsapp.phone_number.created", projectId, payload: { n: 1 } }]);
          throw new Error("abort");
        }),
      );
      const messageId = randomUUID();
      const notices = await t.ctx.db.transaction((tx) =>
        publishEvents(tx, [
          { type: "whatsapp.phone_number.created", projectId, payload: { list: [1, 2], text: "a" } },
          { type: "whatsapp.phone_number.deleted", projectId, messageId, payload: [{ nested: true }] },
        ]),
      );
      assert.equal(notices.length, 2);
      const deadline = Date.now() + 5_000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        heard.map((n) => [n.type, n.message_id]),
        [
          ["whatsapp.phone_number.created", null],
          ["whatsapp.phone_number.deleted", messageId],
        ],
      );
      assert.deepEqual(heard, notices);
      const deliveries = await t.ctx.db.query<{ event: string; payload: unknown }>(
        sql`SELECT event, payload FROM webhook_deliveries WHERE project_id = ${projectId}`,
      );
      assert.deepEqual(deliveries, [
        { event: "whatsapp.phone_number.created", payload: { list: [1, 2], text: "a" } },
      ]);
    } finally {
      await unlisten();
    }
  });

  it("tells the dispatcher to wake when an event made a webhook delivery", async () => {
    const { projectId } = await t.createProject();
    await t.ctx.db.query(sql`
      INSERT INTO webhooks (project_id, url, events, secret_key)
      VALUES (${projectId}, 'https://example.com/hook', ARRAY['whatsapp.phone_number.created'], 'k')`);
    const [wanted, unwanted] = await t.ctx.db.transaction(async (tx) => [
      ...(await publishEvents(tx, [{ type: "whatsapp.phone_number.created", projectId, payload: {} }])),
      ...(await publishEvents(tx, [{ type: "whatsapp.phone_number.deleted", projectId, payload: {} }])),
    ]);
    assert.equal(wanted!.dispatch, true);
    assert.equal(unwanted!.dispatch, false);
    const deliveries = await t.ctx.db.query<{ event: string }>(
      sql`SELECT event FROM webhook_deliveries WHERE project_id = ${projectId}`,
    );
    assert.deepEqual(
      deliveries.map((d) => d.event),
      ["whatsapp.phone_number.created"],
    );
  });

  it("queues Meta's bodies for the numbers that have a meta webhook, byte for byte, in one call", async () => {
    const { projectId } = await t.createProject();
    const [withHook, withoutHook, pausedHook] = [
      await insertSandboxNumber(t, projectId),
      await insertSandboxNumber(t, projectId),
      await insertSandboxNumber(t, projectId),
    ];
    for (const [number, active] of [
      [withHook!, true],
      [pausedHook!, false],
    ] as const) {
      await t.ctx.db.query(sql`
        INSERT INTO webhooks (project_id, phone_number_ref, kind, url, events, secret_key, active)
        VALUES (${projectId}, ${number.id}, 'meta', 'https://example.com/meta', ARRAY[]::text[], 'k', ${active})`);
    }
    const heard: EventNotice[] = [];
    const unlisten = await t.ctx.db.listen(EVENTS_CHANNEL, (payload) => heard.push(JSON.parse(payload)));
    try {
      const body = (n: number) => `{"object":"whatsapp_business_account", "entry":[{"n":${n}}]}`;
      await t.ctx.db.transaction((tx) =>
        publishEvents(
          tx,
          [],
          [withHook!, withoutHook!, pausedHook!, withHook!].map((number, n) => ({
            projectId,
            phoneNumberRef: number.id,
            body: body(n),
            field: n === 3 ? "message_template_status_update" : "messages",
          })),
        ),
      );
      const deliveries = await t.ctx.db.query<{
        id: string;
        event: string;
        body: string;
        idempotency_key: string;
      }>(
        sql`SELECT id, event, body, idempotency_key FROM webhook_deliveries
            WHERE project_id = ${projectId} ORDER BY body`,
      );
      const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
      assert.deepEqual(
        deliveries.map(({ event, body, idempotency_key }) => ({ event, body, idempotency_key })),
        [
          { event: "meta.messages", body: body(0), idempotency_key: sha256(body(0)) },
          { event: "meta.message_template_status_update", body: body(3), idempotency_key: sha256(body(3)) },
        ],
      );
      const deadline = Date.now() + 5_000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard.map((n) => n.id).sort(), deliveries.map((d) => d.id).sort());
      assert.ok(heard.every((n) => n.phone_number_ref === withHook!.id && n.conversation_id === null));
    } finally {
      await unlisten();
    }
  });
});
