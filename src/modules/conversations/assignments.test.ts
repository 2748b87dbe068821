import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { type LoggedEvent, watchEvents } from "../../../test/support/event-log.ts";
import { insertSandboxNumber } from "../../../test/support/fixtures.ts";
import { addUser } from "../users/service.ts";
import { endIdleConversations } from "./idle.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let conversationId: string;
let ana: string;
let bob: string;
let events: (type: string) => Promise<LoggedEvent[]>;

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
  b = await t.createProject("B");
  const number = await insertSandboxNumber(t, a.projectId);
  events = await watchEvents(t, a.projectId, number.phone_number_id);
  const [contact] = await t.ctx.db.query<{ id: string }>(
    sql`INSERT INTO contacts (project_id, wa_id) VALUES (${a.projectId}, '15550301000') RETURNING id`,
  );
  const [conversation] = await t.ctx.db.query<{ id: string }>(sql`
    INSERT INTO conversations (project_id, phone_number_ref, contact_id)
    VALUES (${a.projectId}, ${number.id}, ${contact!.id}) RETURNING id`);
  conversationId = conversation!.id;
  ana = (await addUser(t.ctx, a.projectId, { email: "ana@example.com", name: "Ana", role: "member" })).member
    .user_id;
  bob = (await addUser(t.ctx, a.projectId, { email: "bob@example.com", name: "Bob", role: "member" })).member
    .user_id;
});
after(() => t.close());

const url = (id = "") =>
  `/platform/v1/whatsapp/conversations/${conversationId}/assignments${id ? `/${id}` : ""}`;

describe("conversation assignments", () => {
  it("assigns, allows one active assignment, reassigns, unassigns and keeps the record", async () => {
    const created = await t.api(a, {
      method: "POST",
      url: url(),
      payload: { assignment: { user_id: ana, notes: "VIP" } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const assignment = created.json().data;
    assert.deepEqual(Object.keys(assignment).sort(), [
      "active",
      "created_at",
      "created_by_user_id",
      "id",
      "notes",
      "user_id",
    ]);
    assert.equal(assignment.active, true);
    assert.equal(assignment.created_by_user_id, null);

    const second = await t.api(a, { method: "POST", url: url(), payload: { assignment: { user_id: bob } } });
    assert.equal(second.statusCode, 422);
    assert.equal(second.json().error, "Conversation already has an active assignment");

    const filtered = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/conversations?assigned_user_id=${ana}`,
    });
    assert.deepEqual(
      filtered.json().data.map((c: { id: string }) => c.id),
      [conversationId],
    );

    const reassigned = await t.api(a, {
      method: "PATCH",
      url: url(assignment.id),
      payload: { assignment: { user_id: bob } },
    });
    assert.equal(reassigned.json().data.user_id, bob);
    assert.equal(reassigned.json().data.notes, "VIP");
    const unassigned = await t.api(a, {
      method: "PATCH",
      url: url(assignment.id),
      payload: { assignment: { active: false } },
    });
    assert.equal(unassigned.json().data.active, false);
    assert.equal(
      (await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/conversations?unassigned=true" })).json()
        .data.length,
      1,
    );

    const again = await t.api(a, { method: "POST", url: url(), payload: { assignment: { user_id: ana } } });
    assert.equal(again.statusCode, 201);
    const list = await t.api(a, { method: "GET", url: url() });
    assert.equal(list.json().meta.total_count, 2);
    assert.equal(list.json().data[0].user_id, ana, "newest first");
    const reactivate = await t.api(a, {
      method: "PATCH",
      url: url(assignment.id),
      payload: { assignment: { active: true } },
    });
    assert.equal(reactivate.statusCode, 422);
  });

  it("refuses non-members and hides other projects' conversations", async () => {
    const stranger = (
      await addUser(t.ctx, b.projectId, { email: "eve@example.com", name: "Eve", role: "member" })
    ).member.user_id;
    const refused = await t.api(a, {
      method: "POST",
      url: url(),
      payload: { assignment: { user_id: stranger } },
    });
    assert.equal(refused.statusCode, 422);
    assert.equal(refused.json().error, "User not found or not a member of this project");
    assert.equal((await t.api(b, { method: "GET", url: url() })).statusCode, 404);
    assert.equal(
      (await t.api(b, { method: "POST", url: url(), payload: { assignment: { user_id: stranger } } }))
        .statusCode,
      404,
    );
    assert.equal(
      (await t.api(a, { method: "POST", url: url(), payload: { assignment: {} } })).statusCode,
      422,
    );
    assert.equal(
      (await t.api(a, { method: "GET", url: url("00000000-0000-4000-8000-000000000000") })).statusCode,
      404,
    );
  });
});

describe("idle conversations", () => {
  it("ends conversations idle longer than the timeout, once, with the ended event", async () => {
    await t.ctx.db.query(
      sql`UPDATE conversations SET last_active_at = now() - interval '25 hours' WHERE id = ${conversationId}`,
    );
    assert.equal(await endIdleConversations(t.ctx), 1);
    assert.equal(await endIdleConversations(t.ctx), 0);
    const [row] = await t.ctx.db.query<{ status: string }>(
      sql`SELECT status FROM conversations WHERE id = ${conversationId}`,
    );
    assert.equal(row!.status, "ended");
    const ended = (await events("whatsapp.conversation.ended")).filter(
      (e) => e.payload.conversation.id === conversationId,
    );
    assert.deepEqual(
      ended.map((e) => e.payload.reason),
      ["inactivity"],
    );
  });
});
