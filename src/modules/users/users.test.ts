import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { addUser, removeUser } from "./service.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  b = await t.createProject("B");
});
after(() => t.close());

describe("GET /users", () => {
  it("lists the project's members in Kapso's User shape with offset paging", async () => {
    const owner = await addUser(t.ctx, a.projectId, {
      email: "Owner@Example.com",
      name: "Owner User",
      role: "owner",
    });
    await addUser(t.ctx, a.projectId, { email: "member@example.com", name: "Member User", role: "member" });
    await addUser(t.ctx, b.projectId, { email: "other@example.com", name: "Other", role: "owner" });
    const response = await t.api(a, { method: "GET", url: "/platform/v1/users?per_page=1" });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers["x-total"], "2");
    assert.equal(response.headers.link, undefined);
    const [first] = response.json().data;
    assert.deepEqual(first, {
      id: owner.member.id,
      user_id: owner.member.user_id,
      email: "owner@example.com",
      name: "Owner User",
      role: "owner",
    });
    assert.equal(typeof first.id, "number");
    const page2 = await t.api(a, { method: "GET", url: "/platform/v1/users?per_page=1&page=2" });
    assert.equal(page2.json().data[0].email, "member@example.com");
    assert.equal((await t.api(a, { method: "GET", url: "/platform/v1/users?page=0" })).statusCode, 422);
  });

  it("shares one account across projects by email and adds a member only once", async () => {
    const inA = await addUser(t.ctx, a.projectId, {
      email: "shared@example.com",
      name: "Shared",
      role: "member",
    });
    const inB = await addUser(t.ctx, b.projectId, {
      email: "SHARED@example.com",
      name: "Shared",
      role: "owner",
    });
    assert.equal(inA.member.user_id, inB.member.user_id);
    const again = await addUser(t.ctx, a.projectId, {
      email: "shared@example.com",
      name: "Shared",
      role: "member",
    });
    assert.equal(again.created, false);
    assert.equal(again.member.id, inA.member.id);
  });

  it("validates email, name and role", async () => {
    await assert.rejects(
      addUser(t.ctx, a.projectId, { email: "nope", name: "x", role: "member" }),
      /email must be an email address/,
    );
    await assert.rejects(
      addUser(t.ctx, a.projectId, { email: "a@b.co", name: " ", role: "member" }),
      /name must be/,
    );
    await assert.rejects(
      addUser(t.ctx, a.projectId, { email: "a@b.co", name: "x", role: "admin" }),
      /role must be one of: owner, member/,
    );
  });

  it("removing a member ends their assignments and revokes embeds assigned to them", async () => {
    const { member } = await addUser(t.ctx, a.projectId, {
      email: "leaver@example.com",
      name: "Leaver",
      role: "member",
    });
    const embed = await t.api(a, {
      method: "POST",
      url: "/platform/v1/inbox_embeds",
      payload: { inbox_embed: { scope_type: "project", assigned_user_id: member.user_id } },
    });
    assert.equal(embed.statusCode, 201, embed.body);
    assert.ok(await removeUser(t.ctx, a.projectId, member.user_id));
    assert.equal(await removeUser(t.ctx, a.projectId, member.user_id), undefined);
    const [row] = await t.ctx.db.query<{ status: string }>(
      sql`SELECT status FROM inbox_embeds WHERE id = ${embed.json().data.id}`,
    );
    assert.equal(row!.status, "revoked");
    const list = await t.api(a, { method: "GET", url: "/platform/v1/users" });
    assert.ok(!list.json().data.some((m: { email: string }) => m.email === "leaver@example.com"));
  });
});
