import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp } from "../../../test/support/app.ts";
import * as projects from "./service.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("projects and API keys", () => {
  it("stores keys only as hashes and authenticates the raw key", async () => {
    const { project, key } = await projects.createProject(t.ctx.db, "Hashes");
    assert.match(key.api_key, /^prk_[A-Za-z0-9_-]{43}$/);
    const rows = await t.ctx.db.query<Record<string, unknown>>(
      sql`SELECT * FROM api_keys WHERE project_id = ${project.id}`,
    );
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(key.api_key), "the raw key is not stored anywhere in the row");
    assert.equal(rows[0]!.prefix, key.api_key.slice(0, 12));

    const auth = await projects.authenticateApiKey(t.ctx.db, key.api_key);
    assert.deepEqual(auth, { projectId: project.id, keyId: key.id, keyName: "Default key" });
    assert.equal(await projects.authenticateApiKey(t.ctx.db, `${key.api_key}x`), undefined);
    assert.equal(await projects.authenticateApiKey(t.ctx.db, key.api_key.slice(0, 12)), undefined);
    assert.equal(await projects.authenticateApiKey(t.ctx.db, ""), undefined);
  });

  it("records last_used_at when a key is used", async () => {
    const { key } = await projects.createProject(t.ctx.db, "Usage");
    assert.equal((await projects.listApiKeys(t.ctx.db, key.project_id))[0]!.last_used_at, null);
    const response = await t.request({
      method: "GET",
      url: "/platform/v1/inbox_embeds",
      headers: { "x-api-key": key.api_key },
    });
    assert.equal(response.statusCode, 200);
    const [listed] = await projects.listApiKeys(t.ctx.db, key.project_id);
    assert.ok(listed!.last_used_at, "last_used_at is set");
    assert.equal("key_hash" in listed!, false, "listing never exposes the hash");
  });

  it("creates, lists and revokes extra keys; a revoked key stops working at once", async () => {
    const { project } = await projects.createProject(t.ctx.db, "Keys");
    const extra = await projects.createApiKey(t.ctx.db, project.id, "ci");
    assert.equal((await projects.listApiKeys(t.ctx.db, project.id)).length, 2);
    assert.ok(await projects.authenticateApiKey(t.ctx.db, extra.api_key));
    const revoked = await projects.revokeApiKey(t.ctx.db, project.id, extra.id);
    assert.ok(revoked?.revoked_at);
    assert.equal(await projects.authenticateApiKey(t.ctx.db, extra.api_key), undefined);
    assert.equal(await projects.revokeApiKey(t.ctx.db, project.id, "not-a-uuid"), undefined);
  });

  it("authenticates keys presented together, each to its own project", async () => {
    const made = await Promise.all(
      ["Together 1", "Together 2", "Together 3"].map((n) => projects.createProject(t.ctx.db, n)),
    );
    const answers = await Promise.all([
      ...made.map(({ key }) => projects.authenticateApiKey(t.ctx.db, key.api_key)),
      projects.authenticateApiKey(t.ctx.db, `${made[0]!.key.api_key.slice(0, -1)}x`),
      ...made.map(({ key }) => projects.authenticateApiKey(t.ctx.db, key.api_key)),
    ]);
    const expected = made.map(({ project, key }) => ({
      projectId: project.id,
      keyId: key.id,
      keyName: "Default key",
    }));
    assert.deepEqual(answers, [...expected, undefined, ...expected]);
  });

  it("keeps keys inside their project", async () => {
    const one = await projects.createProject(t.ctx.db, "One");
    const two = await projects.createProject(t.ctx.db, "Two");
    assert.equal(await projects.revokeApiKey(t.ctx.db, two.project.id, one.key.id), undefined);
    assert.ok(await projects.authenticateApiKey(t.ctx.db, one.key.api_key));
    await assert.rejects(projects.listApiKeys(t.ctx.db, "00000000-0000-4000-8000-000000000000"), /not found/);
    await assert.rejects(projects.createApiKey(t.ctx.db, "garbage", "x"), /not found/);
  });

  it("creates the default project only on an empty database", async () => {
    const fresh = await startTestApp();
    try {
      const created = await projects.ensureDefaultProject(fresh.ctx.db);
      assert.equal(created?.project.name, "Default project");
      assert.ok(created?.key.api_key);
      assert.equal(await projects.ensureDefaultProject(fresh.ctx.db), undefined);
    } finally {
      await fresh.close();
    }
  });
});
