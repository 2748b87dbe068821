import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../../test/support/app.ts";
import { inTransaction } from "./boss.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("job queue", () => {
  it("runs on the test engine and writes jobs inside the caller's transaction", async () => {
    const queue = "foundation-probe";
    await t.ctx.jobs.createQueue(queue);
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      void t.ctx.jobs.work<{ label: string }>(queue, { pollingIntervalSeconds: 0.5 }, async ([job]) => {
        seen.push(job!.data.label);
        if (job!.data.label === "committed") resolve();
      });
    });

    await assert.rejects(
      t.ctx.db.transaction(async (tx) => {
        await t.ctx.jobs.send(queue, { label: "rolled-back" }, inTransaction(tx));
        throw new Error("abort");
      }),
      /abort/,
    );
    await t.ctx.db.transaction(async (tx) => {
      await t.ctx.jobs.send(queue, { label: "committed" }, inTransaction(tx));
    });
    await done;
    assert.deepEqual(seen, ["committed"], "a job sent in a rolled-back transaction never exists");
  });
});
