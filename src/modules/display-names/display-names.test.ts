import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { insertSandboxNumber, metaId } from "../../../test/support/fixtures.ts";
import { insertPhoneNumber, type PhoneNumberRow, softDeletePhoneNumber } from "../phone-numbers/store.ts";
import { pollDisplayNameRequest, sweepDisplayNameRequests } from "./service.ts";

// Production numbers talk to the built-in sandbox standing in for Meta: the test points
// META_GRAPH_URL's setting at this app's own `/sandbox/graph` once it listens. Open requests
// are polled every second (PARLEY_DISPLAY_NAME_POLL_SECONDS=1).

let t: TestApp;
let a: TestProject;
let b: TestProject;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_DISPLAY_NAME_POLL_SECONDS: "1" } });
  t.ctx.config.meta.graphUrl = `${t.baseUrl}/sandbox/graph`;
  a = await t.createProject("A");
  b = await t.createProject("B");
});
after(() => t.close());

function productionNumber(p: TestProject, token = "sandbox-live-token"): Promise<PhoneNumberRow> {
  return insertPhoneNumber(t.ctx.db, {
    project_id: p.projectId,
    kind: "production",
    phone_number_id: metaId(),
    business_account_id: metaId(),
    name: "Support Line",
    display_name: "Support Line",
    access_token_encrypted: t.ctx.cipher.encrypt(token),
    display_phone_number: "+1 555-123-4567",
  });
}

const base = (id: string) => `/platform/v1/whatsapp/phone_numbers/${id}/display_name_requests`;

const submit = (p: TestProject, id: string, name: unknown) =>
  t.api(p, { method: "POST", url: base(id), payload: { display_name_request: { new_display_name: name } } });

const getRequest = (p: TestProject, id: string, requestId: string) =>
  t.api(p, { method: "GET", url: `${base(id)}/${requestId}` });

const setOutcome = (p: TestProject, payload: Record<string, unknown>) =>
  t.api(p, { method: "POST", url: "/sandbox/display_name_outcomes", payload });

async function numberDisplayName(p: TestProject, id: string): Promise<string | null> {
  const response = await t.api(p, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}` });
  return response.json().data.display_name;
}

/** Reads the request until `done` holds for it (the poll job runs every second). */
async function waitForRequest(
  p: TestProject,
  id: string,
  requestId: string,
  done: (r: { status: string }) => boolean,
) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const current = (await getRequest(p, id, requestId)).json().data as Record<string, unknown> & {
      status: string;
    };
    if (done(current) || Date.now() > deadline) return current;
    await sleep(200);
  }
}

const FIELDS = [
  "id",
  "phone_number_id",
  "requested_display_name",
  "previous_display_name",
  "status",
  "submitted_at",
  "reviewed_at",
  "applied_at",
  "meta_error_code",
  "meta_error_subcode",
  "meta_error_type",
  "meta_error_message",
];

describe("display name requests", () => {
  it("approves an instantly available name and applies it to the number", async () => {
    const number = await productionNumber(a);
    const response = await submit(a, number.phone_number_id, "  Acme Support ");
    assert.equal(response.statusCode, 201, response.body);
    const request = response.json().data;
    assert.deepEqual(Object.keys(request).sort(), [...FIELDS].sort());
    assert.equal(request.phone_number_id, number.phone_number_id);
    assert.equal(request.requested_display_name, "Acme Support");
    assert.equal(request.previous_display_name, "Support Line");
    assert.equal(request.status, "available_without_review");
    assert.ok(request.reviewed_at);
    assert.ok(request.applied_at);
    assert.equal(request.meta_error_code, null);
    assert.equal(await numberDisplayName(a, number.phone_number_id), "Acme Support");

    const fetched = await getRequest(a, number.phone_number_id, request.id);
    assert.deepEqual(fetched.json().data, request);
  });

  it("follows Meta's review: pending, one open request per number, then approved by the poll job", async () => {
    const number = await productionNumber(a);
    const outcome = await setOutcome(a, {
      phone_number_id: number.phone_number_id,
      outcome: "review",
      review_ms: 1500,
    });
    assert.equal(outcome.statusCode, 201, outcome.body);
    assert.equal(outcome.json().data.outcome, "review");

    const created = await submit(a, number.phone_number_id, "Acme Care");
    assert.equal(created.statusCode, 201, created.body);
    const request = created.json().data;
    assert.equal(request.status, "pending_review");
    assert.equal(request.reviewed_at, null);
    assert.equal(request.applied_at, null);

    const second = await submit(a, number.phone_number_id, "Acme Other");
    assert.equal(second.statusCode, 422);
    assert.match(second.json().error, /^display_name_request .*already has a display name request/);
    assert.match(second.json().error, new RegExp(request.id));

    const done = await waitForRequest(
      a,
      number.phone_number_id,
      request.id,
      (r) => r.status !== "pending_review",
    );
    assert.equal(done.status, "approved");
    assert.ok(done.reviewed_at);
    assert.ok(done.applied_at);
    assert.equal(await numberDisplayName(a, number.phone_number_id), "Acme Care");

    // The number is free again once Meta decided.
    await t.api(a, {
      method: "DELETE",
      url: `/sandbox/display_name_outcomes?phone_number_id=${number.phone_number_id}`,
    });
    const next = await submit(a, number.phone_number_id, "Acme Care Team");
    assert.equal(next.statusCode, 201, next.body);
    assert.equal(next.json().data.status, "available_without_review");
    assert.equal(next.json().data.previous_display_name, "Acme Care");
  });

  it("records Meta's decline with Meta's error fields and leaves the number's name alone", async () => {
    const number = await productionNumber(a);
    await setOutcome(a, { phone_number_id: number.phone_number_id, outcome: "decline" });
    const response = await submit(a, number.phone_number_id, "ACME Inc");
    assert.equal(response.statusCode, 201, response.body);
    const request = response.json().data;
    assert.equal(request.status, "declined");
    assert.ok(request.reviewed_at);
    assert.equal(request.applied_at, null);
    assert.equal(request.meta_error_code, 100);
    assert.equal(request.meta_error_subcode, 2388135);
    assert.equal(request.meta_error_type, "OAuthException");
    assert.equal(request.meta_error_message, "Display name does not match business verification details");
    assert.equal(await numberDisplayName(a, number.phone_number_id), "Support Line");

    await setOutcome(a, {
      phone_number_id: number.phone_number_id,
      outcome: "decline",
      error: { code: 100, error_subcode: 2388023, message: "Display name is too generic" },
    });
    const again = await submit(a, number.phone_number_id, "Shop");
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().data.meta_error_subcode, 2388023);
    assert.equal(again.json().data.meta_error_message, "Display name is too generic");
  });

  it("works for sandbox numbers through the built-in sandbox", async () => {
    const number = await insertSandboxNumber(t, a.projectId, { display_name: null });
    const response = await submit(a, number.phone_number_id, "Sandbox Shop");
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(response.json().data.status, "available_without_review");
    assert.equal(response.json().data.previous_display_name, "Parley Sandbox");
    assert.equal(await numberDisplayName(a, number.phone_number_id), "Sandbox Shop");
  });

  it("fails the request when Meta refuses the token (422) or cannot be reached (502)", async () => {
    const refused = await productionNumber(a, "EAAB-revoked-token");
    const response = await submit(a, refused.phone_number_id, "Acme");
    assert.equal(response.statusCode, 422);
    assert.match(response.json().error, /^Meta refused the display name request: Invalid OAuth access token/);
    const list = await t.api(a, { method: "GET", url: base(refused.phone_number_id) });
    const failed = list.json().data[0];
    assert.equal(failed.status, "failed");
    assert.equal(failed.meta_error_code, 190);

    const number = await productionNumber(a);
    const saved = t.ctx.config.meta.graphUrl;
    t.ctx.config.meta.graphUrl = "http://127.0.0.1:1";
    try {
      const unreachable = await submit(a, number.phone_number_id, "Acme");
      assert.equal(unreachable.statusCode, 502);
      assert.match(unreachable.json().error, /could not take the display name/);
    } finally {
      t.ctx.config.meta.graphUrl = saved;
    }
    // A failed request does not block the next one.
    assert.equal((await submit(a, number.phone_number_id, "Acme")).statusCode, 201);
  });

  it("restarts lost polls from the scheduled sweep, and cancels open requests of deleted numbers", async () => {
    const number = await productionNumber(a);
    await setOutcome(a, { phone_number_id: number.phone_number_id, outcome: "review", review_ms: 3_600_000 });
    const request = (await submit(a, number.phone_number_id, "Acme Later")).json().data;
    assert.equal(request.status, "pending_review");

    // A poll job lost long ago: the scheduled sweep picks the request up and polls it.
    await t.ctx.db.query(sql`
      UPDATE display_name_requests SET next_check_at = clock_timestamp() - interval '1 hour'
      WHERE id = ${request.id}`);
    await t.ctx.db.query(sql`
      UPDATE sandbox_display_names SET decide_at = clock_timestamp() WHERE phone_number_id = ${number.phone_number_id}`);
    assert.ok((await sweepDisplayNameRequests(t.ctx)) >= 1);
    const swept = (await getRequest(a, number.phone_number_id, request.id)).json().data;
    assert.equal(swept.status, "approved");

    const statusOf = async (id: string) =>
      (
        await t.ctx.db.query<{ status: string }>(
          sql`SELECT status FROM display_name_requests WHERE id = ${id}`,
        )
      )[0]!.status;
    const other = await productionNumber(a);
    await setOutcome(a, { phone_number_id: other.phone_number_id, outcome: "review", review_ms: 3_600_000 });
    const pending = (await submit(a, other.phone_number_id, "Acme Gone")).json().data;
    const deleted = await t.api(a, {
      method: "DELETE",
      url: `/platform/v1/whatsapp/phone_numbers/${other.phone_number_id}`,
    });
    assert.equal(deleted.statusCode, 204);
    assert.equal(await statusOf(pending.id), "cancelled");

    // A number removed some other way: the next poll cancels its request.
    const third = await productionNumber(a);
    await setOutcome(a, { phone_number_id: third.phone_number_id, outcome: "review", review_ms: 3_600_000 });
    const orphan = (await submit(a, third.phone_number_id, "Acme Orphan")).json().data;
    await softDeletePhoneNumber(t.ctx.db, a.projectId, third.id);
    await pollDisplayNameRequest(t.ctx, orphan.id);
    assert.equal(await statusOf(orphan.id), "cancelled");
  });

  it("lists a number's requests newest first with offset paging", async () => {
    const number = await productionNumber(a);
    for (const name of ["First Name", "Second Name", "Third Name"]) {
      assert.equal((await submit(a, number.phone_number_id, name)).statusCode, 201);
    }
    const page = await t.api(a, { method: "GET", url: `${base(number.phone_number_id)}?per_page=2&page=1` });
    assert.equal(page.statusCode, 200);
    assert.deepEqual(
      page.json().data.map((r: { requested_display_name: string }) => r.requested_display_name),
      ["Third Name", "Second Name"],
    );
    assert.deepEqual(page.json().meta, { page: 1, per_page: 2, total_pages: 2, total_count: 3 });
    assert.equal(page.headers["x-total"], "3");
    assert.match(String(page.headers.link), /rel="next"/);
    const second = await t.api(a, {
      method: "GET",
      url: `${base(number.phone_number_id)}?per_page=2&page=2`,
    });
    assert.deepEqual(
      second.json().data.map((r: { requested_display_name: string }) => r.requested_display_name),
      ["First Name"],
    );
  });

  it("validates the body, naming the field", async () => {
    const number = await productionNumber(a);
    const cases: [unknown, RegExp][] = [
      [{}, /^display_name_request is required$/],
      [{ display_name_request: {} }, /^display_name_request\.new_display_name is required$/],
      [{ display_name_request: { new_display_name: "" } }, /^display_name_request\.new_display_name/],
      [
        { display_name_request: { new_display_name: "   " } },
        /^display_name_request\.new_display_name must not be blank$/,
      ],
      [
        { display_name_request: { new_display_name: "x".repeat(257) } },
        /^display_name_request\.new_display_name/,
      ],
      [
        { display_name_request: { new_display_name: 42 } },
        /^display_name_request\.new_display_name must be a string$/,
      ],
    ];
    for (const [payload, error] of cases) {
      const response = await t.api(a, {
        method: "POST",
        url: base(number.phone_number_id),
        payload: payload as object,
      });
      assert.equal(response.statusCode, 422, JSON.stringify(payload));
      assert.match(response.json().error, error);
    }
    const [count] = await t.ctx.db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM display_name_requests WHERE phone_number_ref = ${number.id}`,
    );
    assert.equal(count!.n, 0);
  });

  it("answers 404 for unknown numbers and requests, and for another project's", async () => {
    const number = await productionNumber(a);
    const request = (await submit(a, number.phone_number_id, "Acme Private")).json().data;

    for (const response of [
      await submit(b, number.phone_number_id, "Hijack"),
      await t.api(b, { method: "GET", url: base(number.phone_number_id) }),
      await getRequest(b, number.phone_number_id, request.id),
      await submit(a, "999999999999999", "Nobody"),
    ]) {
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error, "Phone number not found");
    }
    const otherNumber = await productionNumber(a);
    for (const requestId of [request.id, "not-a-uuid", "6f1c1f8e-7c1a-4d4e-9a55-0f6a3d2b9c10"]) {
      const response = await getRequest(a, otherNumber.phone_number_id, requestId);
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error, "Display name request not found");
    }
    assert.equal(await numberDisplayName(a, number.phone_number_id), "Acme Private");
  });
});

describe("sandbox display-name review", () => {
  it("keeps its controls to the caller's own numbers and validates them", async () => {
    const number = await insertSandboxNumber(t, a.projectId);
    const foreign = await setOutcome(b, { phone_number_id: number.phone_number_id, outcome: "instant" });
    assert.equal(foreign.statusCode, 404);
    const reset = await t.api(b, {
      method: "DELETE",
      url: `/sandbox/display_name_outcomes?phone_number_id=${number.phone_number_id}`,
    });
    assert.equal(reset.statusCode, 404);
    const bad = await setOutcome(a, { phone_number_id: number.phone_number_id, outcome: "maybe" });
    assert.equal(bad.statusCode, 422);
    assert.match(bad.json().error, /^outcome must be one of: instant, review, decline$/);
    const unauthenticated = await t.request({
      method: "POST",
      url: "/sandbox/display_name_outcomes",
      payload: {},
    });
    assert.equal(unauthenticated.statusCode, 401);
  });

  it("answers Meta's Graph calls like Meta: submission, review fields, token and parameter errors", async () => {
    const id = metaId();
    const graph = `${t.baseUrl}/sandbox/graph/v24.0/${id}`;
    const auth = { authorization: "Bearer sandbox" };

    const noToken = await fetch(`${graph}?new_display_name=Acme`, { method: "POST" });
    assert.equal(noToken.status, 401);
    assert.equal((await noToken.json()).error.code, 190);

    const missing = await fetch(graph, { method: "POST", headers: auth });
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).error.message, /new_display_name is required/);

    const before = await fetch(`${graph}?fields=new_display_name,new_name_status`, { headers: auth });
    assert.deepEqual(await before.json(), { id });

    const posted = await fetch(`${graph}?new_display_name=Acme%20Shop`, { method: "POST", headers: auth });
    assert.equal(posted.status, 200);
    assert.deepEqual(await posted.json(), { success: true });

    const after = await fetch(`${graph}?fields=new_display_name,new_name_status,verified_name,name_status`, {
      headers: auth,
    });
    assert.deepEqual(await after.json(), {
      id,
      new_display_name: "Acme Shop",
      new_name_status: "AVAILABLE_WITHOUT_REVIEW",
      verified_name: "Acme Shop",
      name_status: "AVAILABLE_WITHOUT_REVIEW",
    });
  });
});
