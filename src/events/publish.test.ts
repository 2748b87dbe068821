import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp } from "../../test/support/app.ts";
import { EVENTS_CHANNEL, type EventNotice, publishEvents } from "./publish.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("event outbox", () => {
  it("records events and announces them only when the transaction commits", async () => {
    const { projectId } = await t.createProject();
    const heard: EventNotice[] = [];
    const unlisten = await t.ctx.db.listen(EVENTS_CHANNEL, (payload) => heard.push(JSON.parse(payload)));
    try {
      await assert.rejects(
        t.ctx.db.transaction(async (tx) => {
          await publishEvents(tx, [{ type: "test.rolled_back", projectId, payload: { n: 1 } }]);
          throw new Error("abort");
        }),
      );
      const notices = await t.ctx.db.transaction((tx) =>
        publishEvents(tx, [
          { type: "test.one", projectId, payload: { list: [1, 2], text: "a" } },
          { type: "test.two", projectId, payload: [{ nested: true }] },
        ]),
      );
      assert.equal(notices.length, 2);
      const deadline = Date.now() + 5_000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        heard.map((n) => n.type),
        ["test.one", "test.two"],
      );
      assert.deepEqual(heard[0], notices[0]);
      assert.equal(heard[0]!.dispatch, false, "no webhook wants test events: the dispatcher stays asleep");
      const rows = await t.ctx.db.query<{ type: string; payload: unknown }>(
        sql`SELECT type, payload FROM events WHERE project_id = ${projectId} ORDER BY created_at`,
      );
      assert.deepEqual(rows, [
        { type: "test.one", payload: { list: [1, 2], text: "a" } },
        { type: "test.two", payload: [{ nested: true }] },
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
});
