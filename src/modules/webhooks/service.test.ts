import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp } from "../../../test/support/app.ts";
import { purgeWebhookDeliveries } from "./service.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("webhook delivery retention", () => {
  it("deletes finished deliveries older than the retention, and keeps pending and recent ones", async () => {
    const { projectId } = await t.createProject();
    const deliveries: [string, string, string, string | null][] = [
      ["old delivered", "delivered", "31 days", null],
      ["old failed", "failed", "31 days", null],
      ["old pending", "pending", "31 days", null],
      ["recent delivered", "delivered", "29 days", null],
      ["old, redelivered lately", "failed", "31 days", "1 day"],
    ];
    for (const [name, status, age, redeliveredAgo] of deliveries) {
      await t.ctx.db.query(sql`
        INSERT INTO webhook_deliveries (project_id, event, payload, status, created_at, redelivered_at)
        VALUES (${projectId}, 'whatsapp.message.received', ${JSON.stringify({ name })}::jsonb, ${status},
          clock_timestamp() - ${age}::interval, clock_timestamp() - ${redeliveredAgo}::interval)`);
    }
    assert.equal(t.ctx.config.webhookDeliveryRetentionDays, 30);
    assert.ok((await purgeWebhookDeliveries(t.ctx)) >= 2);
    const left = await t.ctx.db.query<{ name: string }>(
      sql`SELECT payload->>'name' AS name FROM webhook_deliveries WHERE project_id = ${projectId} ORDER BY name`,
    );
    assert.deepEqual(
      left.map((r) => r.name),
      ["old pending", "old, redelivered lately", "recent delivered"],
    );
  });
});
