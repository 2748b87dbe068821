import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { type LoggedEvent, watchEvents } from "../../../test/support/event-log.ts";
import { insertSandboxNumber, metaId } from "../../../test/support/fixtures.ts";
import { until } from "../../../test/support/poll.ts";
import { findLivePhoneNumberByMetaId, lookUpLivePhoneNumber } from "./store.ts";

// Production numbers are checked against the built-in sandbox standing in for Meta: the
// test points META_GRAPH_URL's setting at this app's own `/sandbox/graph` once it listens.

let t: TestApp;
let a: TestProject;
let b: TestProject;
let customerA: string;
let eventsOfA: () => Promise<LoggedEvent[]>;
let customerB: string;

async function insertCustomer(projectId: string, name: string): Promise<string> {
  const [row] = await t.ctx.db.query<{ id: string }>(
    sql`INSERT INTO customers (project_id, name) VALUES (${projectId}, ${name}) RETURNING id`,
  );
  return row!.id;
}

const connect = (p: TestProject, customerId: string, body: Record<string, unknown>) =>
  t.api(p, {
    method: "POST",
    url: `/platform/v1/customers/${customerId}/whatsapp/phone_numbers`,
    payload: { whatsapp_phone_number: body },
  });

const production = (overrides: Record<string, unknown> = {}) => ({
  name: "Support Line",
  kind: "production",
  phone_number_id: metaId(),
  business_account_id: metaId(),
  access_token: "sandbox-long-lived-token",
  webhook_verify_token: "verify-me",
  webhook_destination_url: "https://example.com/hooks",
  ...overrides,
});

const health = (p: TestProject, id: string) =>
  t.api(p, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}/health` });

const inject = (p: TestProject, payload: Record<string, unknown>) =>
  t.api(p, { method: "POST", url: "/sandbox/failures", payload });

before(async () => {
  t = await startTestApp({ listen: true });
  t.ctx.config.meta.graphUrl = `${t.baseUrl}/sandbox/graph`;
  a = await t.createProject("A");
  b = await t.createProject("B");
  customerA = await insertCustomer(a.projectId, "Acme");
  eventsOfA = await watchEvents(t, a.projectId);
  customerB = await insertCustomer(b.projectId, "Globex");
});
after(() => t.close());

const SECRET_KEYS = [
  "access_token",
  "webhook_verify_token",
  "webhook_destination_url",
  "access_token_encrypted",
];

describe("connect phone number", () => {
  it("connects a production number after reading it from Meta, keeping secrets write-only and encrypted", async () => {
    const input = production();
    const response = await connect(a, customerA, input);
    assert.equal(response.statusCode, 201, response.body);
    const number = response.json().data;
    assert.equal(number.id, input.phone_number_id);
    assert.equal(number.phone_number_id, input.phone_number_id);
    assert.match(number.internal_id, /^[0-9a-f-]{36}$/);
    assert.equal(number.customer_id, customerA);
    assert.equal(number.kind, "production");
    assert.equal(number.name, "Support Line");
    assert.equal(number.display_name, "Support Line");
    assert.equal(number.verified_name, "Parley Sandbox");
    assert.match(number.display_phone_number, /^\+1 555-\d{3}-\d{4}$/);
    assert.equal(number.display_phone_number_normalized, number.display_phone_number.replace(/\D/g, ""));
    assert.equal(number.quality_rating, "GREEN");
    assert.equal(number.status, "CONNECTED");
    assert.equal(number.throughput_tier, "TIER_1K");
    assert.equal(number.whatsapp_business_manager_messaging_limit, "1000");
    assert.equal(number.inbound_processing_enabled, true);
    assert.equal(number.calls_enabled, false);
    assert.equal(number.webhook_verified_at, null);
    for (const key of SECRET_KEYS) assert.ok(!(key in number), key);
    assert.ok(!response.body.includes("sandbox-long-lived-token"));

    const row = (await findLivePhoneNumberByMetaId(t.ctx.db, input.phone_number_id))!;
    assert.ok(!row.access_token_encrypted!.includes("sandbox-long-lived-token"));
    assert.equal(t.ctx.cipher.decrypt(row.access_token_encrypted!), "sandbox-long-lived-token");
    assert.equal(t.ctx.cipher.decrypt(row.webhook_verify_token_encrypted!), "verify-me");

    const [event, ...more] = (await eventsOfA()).filter((e) => e.phone_number_ref === row.id);
    assert.equal(more.length, 0);
    assert.equal(event!.type, "whatsapp.phone_number.created");
    assert.deepEqual(event!.payload, {
      phone_number_id: input.phone_number_id,
      project: { id: a.projectId },
      customer: { id: customerA },
    });
  });

  it("refuses bad credentials with Meta's message (422) and a connected id with 409", async () => {
    const refused = await connect(a, customerA, production({ access_token: "EAABsbCS-not-valid" }));
    assert.equal(refused.statusCode, 422);
    assert.match(refused.json().error, /^access_token was refused by Meta: .*Invalid OAuth access token/);

    const input = production();
    assert.equal((await connect(a, customerA, input)).statusCode, 201);
    const again = await connect(a, customerA, input);
    assert.equal(again.statusCode, 409);
    assert.match(again.json().error, /already connected/);
    const elsewhere = await connect(b, customerB, input);
    assert.equal(elsewhere.statusCode, 409);
  });

  it("validates the request and the customer", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [production({ access_token: undefined }), /^access_token is required/],
      [production({ phone_number_id: undefined }), /^phone_number_id is required/],
      [production({ phone_number_id: "abc" }), /^phone_number_id must be Meta's numeric id/],
      [production({ business_account_id: "x-1" }), /^business_account_id must be Meta's numeric id/],
      [production({ name: "" }), /name/],
      [production({ kind: "staging" }), /kind must be one of: production, sandbox/],
      [production({ webhook_destination_url: "not a url" }), /webhook_destination_url must be a valid uri/],
      [production({ calls_enabled: "yes" }), /calls_enabled must be a boolean/],
    ];
    for (const [body, message] of cases) {
      const response = await connect(a, customerA, body);
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.match(response.json().error, message);
    }
    assert.equal((await connect(a, customerB, production())).statusCode, 404, "another project's customer");
    assert.equal((await connect(a, "not-a-uuid", production())).statusCode, 404);
    const noBody = await t.api(a, {
      method: "POST",
      url: `/platform/v1/customers/${customerA}/whatsapp/phone_numbers`,
      payload: {},
    });
    assert.equal(noBody.statusCode, 422);
    assert.equal(
      (
        await t.request({
          method: "POST",
          url: `/platform/v1/customers/${customerA}/whatsapp/phone_numbers`,
          payload: {},
        })
      ).statusCode,
      401,
    );
  });

  it("answers 502 when the Graph API cannot be reached", async () => {
    const saved = t.ctx.config.meta.graphUrl;
    t.ctx.config.meta.graphUrl = "http://127.0.0.1:1";
    try {
      const response = await connect(a, customerA, production());
      assert.equal(response.statusCode, 502);
      assert.match(response.json().error, /could not check the number/);
    } finally {
      t.ctx.config.meta.graphUrl = saved;
    }
  });

  it("connects a sandbox number without credentials, replacing placeholder ids", async () => {
    const response = await connect(a, customerA, {
      name: "Test Number",
      kind: "sandbox",
      phone_number_id: "sandbox",
      business_account_id: "sandbox",
      access_token: "sandbox",
    });
    assert.equal(response.statusCode, 201);
    const number = response.json().data;
    assert.match(number.id, /^\d{15}$/);
    assert.match(number.business_account_id, /^\d{15}$/);
    assert.equal(number.kind, "sandbox");
    assert.equal(number.verified_name, "Parley Sandbox");
    assert.ok(number.webhook_verified_at);
    const row = (await findLivePhoneNumberByMetaId(t.ctx.db, number.id))!;
    assert.equal(row.access_token_encrypted, null);

    const chosen = metaId();
    const withId = await connect(a, customerA, { name: "Fixed", kind: "sandbox", phone_number_id: chosen });
    assert.equal(withId.json().data.id, chosen);
  });
});

describe("list, get, update, delete", () => {
  let listProject: TestProject;
  let listEvents: () => Promise<LoggedEvent[]>;
  let customer: string;
  const ids: string[] = [];

  before(async () => {
    listProject = await t.createProject("Lists");
    listEvents = await watchEvents(t, listProject.projectId);
    customer = await insertCustomer(listProject.projectId, "Lister");
    const other = await insertCustomer(listProject.projectId, "Other");
    for (const [name, customerId] of [
      ["Support Line", customer],
      ["Sales LINE", customer],
      ["Billing", other],
    ] as const) {
      const response = await connect(listProject, customerId, { name, kind: "sandbox" });
      ids.push(response.json().data.id);
    }
  });

  it("lists the project's numbers newest first with filters and offset paging", async () => {
    const list = await t.api(listProject, {
      method: "GET",
      url: "/platform/v1/whatsapp/phone_numbers?per_page=2",
    });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json().meta, { page: 1, per_page: 2, total_pages: 2, total_count: 3 });
    assert.deepEqual(
      list.json().data.map((n: { id: string }) => n.id),
      [ids[2], ids[1]],
    );
    assert.equal(list.headers["x-total"], "3");
    assert.match(String(list.headers.link), /rel="next"/);

    const query = async (qs: string) =>
      (await t.api(listProject, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers?${qs}` }))
        .json()
        .data.map((n: { name: string }) => n.name);
    assert.deepEqual(await query("name_contains=line"), ["Sales LINE", "Support Line"]);
    assert.deepEqual(await query(`customer_id=${customer}`), ["Sales LINE", "Support Line"]);
    assert.deepEqual(await query(`phone_number_id=${ids[2]}`), ["Billing"]);
    assert.deepEqual(await query("messaging_enabled=true"), ["Billing", "Sales LINE", "Support Line"]);
    assert.deepEqual(await query("messaging_enabled=false"), []);
    assert.deepEqual(await query("name_contains=%25"), []);
    assert.deepEqual(await query("created_after=2100-01-01T00:00:00Z"), []);
    assert.deepEqual((await query("created_before=2100-01-01T00:00:00Z")).length, 3);
    const bad = await t.api(listProject, {
      method: "GET",
      url: "/platform/v1/whatsapp/phone_numbers?customer_id=x",
    });
    assert.equal(bad.statusCode, 422);

    const others = await t.api(b, { method: "GET", url: "/platform/v1/whatsapp/phone_numbers" });
    assert.ok(!others.json().data.some((n: { id: string }) => ids.includes(n.id)));
  });

  it("gets one number; another project's number is a 404", async () => {
    const one = await t.api(listProject, {
      method: "GET",
      url: `/platform/v1/whatsapp/phone_numbers/${ids[0]}`,
    });
    assert.equal(one.statusCode, 200);
    assert.equal(one.json().data.name, "Support Line");
    assert.equal(
      (await t.api(b, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${ids[0]}` })).statusCode,
      404,
    );
    assert.equal(
      (await t.api(b, { method: "GET", url: "/platform/v1/whatsapp/phone_numbers/nope" })).statusCode,
      404,
    );
  });

  it("updates settings, rotates and checks credentials, and switches kind", async () => {
    const patch = (id: string, body: Record<string, unknown>, p = listProject) =>
      t.api(p, {
        method: "PATCH",
        url: `/platform/v1/whatsapp/phone_numbers/${id}`,
        payload: { whatsapp_phone_number: body },
      });
    const renamed = await patch(ids[0]!, {
      name: "Help Desk",
      calls_enabled: true,
      webhook_destination_url: null,
    });
    assert.equal(renamed.statusCode, 200);
    assert.equal(renamed.json().data.name, "Help Desk");
    assert.equal(renamed.json().data.calls_enabled, true);
    assert.equal((await patch(ids[0]!, { name: "x" }, b)).statusCode, 404);
    assert.equal((await patch(ids[0]!, { calls_enabled: 1 })).statusCode, 422);

    const noId = await patch(ids[1]!, { kind: "production", access_token: "sandbox-t" });
    assert.equal(noId.statusCode, 422);
    assert.match(noId.json().error, /phone_number_id is required when switching to production/);
    const tokenOnSandbox = await patch(ids[1]!, { access_token: "sandbox-t" });
    assert.equal(tokenOnSandbox.statusCode, 422);

    const newId = metaId();
    const switched = await patch(ids[1]!, {
      kind: "production",
      phone_number_id: newId,
      business_account_id: metaId(),
      access_token: "sandbox-token-1",
    });
    assert.equal(switched.statusCode, 200, switched.body);
    assert.equal(switched.json().data.kind, "production");
    assert.equal(switched.json().data.id, newId);
    ids[1] = newId;

    const badToken = await patch(newId, { access_token: "EAAB-bad" });
    assert.equal(badToken.statusCode, 422);
    assert.match(badToken.json().error, /^access_token was refused by Meta/);
    const row = (await findLivePhoneNumberByMetaId(t.ctx.db, newId))!;
    assert.equal(
      t.ctx.cipher.decrypt(row.access_token_encrypted!),
      "sandbox-token-1",
      "a refused token is not kept",
    );

    const rotated = await patch(newId, { access_token: "sandbox-token-2" });
    assert.equal(rotated.statusCode, 200);
    const rotatedRow = (await findLivePhoneNumberByMetaId(t.ctx.db, newId))!;
    assert.equal(t.ctx.cipher.decrypt(rotatedRow.access_token_encrypted!), "sandbox-token-2");

    const taken = await patch(newId, { phone_number_id: ids[2] });
    assert.equal(taken.statusCode, 409);
  });

  it("deletes a number (204); it disappears, fires an event, and its id can be connected again", async () => {
    const id = ids[2]!;
    const row = (await findLivePhoneNumberByMetaId(t.ctx.db, id))!;
    assert.equal(
      (await t.api(b, { method: "DELETE", url: `/platform/v1/whatsapp/phone_numbers/${id}` })).statusCode,
      404,
    );
    const deleted = await t.api(listProject, {
      method: "DELETE",
      url: `/platform/v1/whatsapp/phone_numbers/${id}`,
    });
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, "");
    assert.equal(
      (await t.api(listProject, { method: "GET", url: `/platform/v1/whatsapp/phone_numbers/${id}` }))
        .statusCode,
      404,
    );
    assert.equal(
      (await t.api(listProject, { method: "DELETE", url: `/platform/v1/whatsapp/phone_numbers/${id}` }))
        .statusCode,
      404,
    );
    const types = (await listEvents()).filter((e) => e.phone_number_ref === row.id);
    assert.deepEqual(
      types.map((e) => e.type),
      ["whatsapp.phone_number.created", "whatsapp.phone_number.deleted"],
    );
    const again = await connect(listProject, customer, {
      name: "Again",
      kind: "sandbox",
      phone_number_id: id,
    });
    assert.equal(again.statusCode, 201);
  });
});

describe("the hot paths' lookup of live numbers", () => {
  /** Looks the number up until `check` holds (a change is announced after its commit). */
  const lookUpUntil = (
    id: string,
    check: (row: Awaited<ReturnType<typeof lookUpLivePhoneNumber>>) => boolean | Promise<boolean>,
  ) => until(() => lookUpLivePhoneNumber(t.ctx.db, id), check, { timeoutMs: 3_000, intervalMs: 10 });

  it("keeps a number in memory until it changes, whoever changes it; unknown ids are not kept", async () => {
    const unknownId = metaId();
    assert.equal(await lookUpLivePhoneNumber(t.ctx.db, unknownId), undefined);
    const number = await insertSandboxNumber(t, a.projectId, { phone_number_id: unknownId });
    const first = await lookUpLivePhoneNumber(t.ctx.db, unknownId);
    assert.equal(first?.id, number.id, "a number connected after a miss is found at once");
    // Kept (the same row, not read again) once the insert's own announcement has come.
    const kept = await lookUpUntil(
      unknownId,
      async (row) => row !== undefined && row === (await lookUpLivePhoneNumber(t.ctx.db, unknownId)),
    );
    assert.equal(kept, await lookUpLivePhoneNumber(t.ctx.db, unknownId));

    // Changed behind the API's back (plain SQL, as another process would): the lookup follows.
    await t.ctx.db.query(
      sql`UPDATE phone_numbers SET inbound_processing_enabled = false WHERE id = ${number.id}`,
    );
    const changed = await lookUpUntil(unknownId, (row) => row?.inbound_processing_enabled === false);
    assert.equal(changed?.inbound_processing_enabled, false);

    await t.ctx.db.query(
      sql`UPDATE phone_numbers SET deleted_at = clock_timestamp() WHERE id = ${number.id}`,
    );
    assert.equal(await lookUpUntil(unknownId, (row) => row === undefined), undefined);
  });
});

describe("phone number health", () => {
  it("reports a sandbox number healthy from live Graph calls, without a data envelope, and caches it", async () => {
    const number = await insertSandboxNumber(t, a.projectId, {
      webhook_verified_at: new Date().toISOString(),
    });
    await t.ctx.graph.request(
      { baseUrl: `${t.baseUrl}/sandbox/graph`, version: "v24.0", accessToken: "sandbox" },
      { method: "POST", path: "/sandbox/subscribed_apps" },
    );
    const first = await health(a, number.phone_number_id);
    assert.equal(first.statusCode, 200, first.body);
    const body = first.json();
    assert.equal(body.data, undefined);
    assert.equal(body.status, "healthy");
    assert.equal(body.error, null);
    assert.deepEqual(Object.keys(body.checks).sort(), [
      "messaging_health",
      "phone_number_access",
      "phone_number_connection",
      "webhook_subscription",
      "webhook_verified",
    ]);
    assert.equal(body.checks.phone_number_access.details.verified_name, "Parley Sandbox");
    assert.deepEqual(body.checks.phone_number_connection, { passed: true, details: { status: "CONNECTED" } });
    assert.equal(body.checks.messaging_health.overall_status, "AVAILABLE");
    assert.equal(body.checks.webhook_subscription.details.subscribed, true);
    assert.match(body.checks.webhook_verified.details.message, /^Webhook successfully verified at .* UTC$/);
    assert.equal(first.headers["x-health-ratelimit-second-limit"], "5");
    assert.equal(first.headers["x-health-ratelimit-minute-limit"], "60");
    assert.ok(Number(first.headers["x-health-ratelimit-minute-remaining"]) < 60);

    const second = await health(a, number.phone_number_id);
    assert.equal(second.json().timestamp, body.timestamp, "served from the 3-minute cache");
    assert.equal((await health(b, number.phone_number_id)).statusCode, 404);
  });

  it("degrades when the webhook is not verified nor subscribed", async () => {
    const { project: a } = await freshProject("Degraded");
    const number = await insertSandboxNumber(t, a.projectId, { business_account_id: "unsubscribed-waba" });
    // Two requests at once share one check: the second waits for the first's result.
    const [one, two] = await Promise.all([
      health(a, number.phone_number_id),
      health(a, number.phone_number_id),
    ]);
    assert.equal(one.json().timestamp, two.json().timestamp);
    const body = one.json();
    assert.equal(body.status, "degraded");
    assert.equal(body.checks.webhook_verified.passed, false);
    assert.equal(body.checks.webhook_verified.details.message, "Webhook not yet verified by Meta");
    assert.equal(body.checks.webhook_subscription.passed, false);
  });

  // Each test below uses a project of its own: the 5-per-second limit is per project.
  async function freshProject(name: string) {
    const project = await t.createProject(name);
    return { project, customer: await insertCustomer(project.projectId, name) };
  }

  it("backs off after Meta refuses the token: unhealthy with retry_after, repeated until then; a change resets", async () => {
    const { project: a, customer: customerA } = await freshProject("Backoff");
    const connected = (await connect(a, customerA, production())).json().data;
    await inject(a, {
      phone_number_id: connected.id,
      operation: "number",
      error: { code: 190 },
      remaining: 5,
    });
    const first = (await health(a, connected.id)).json();
    assert.equal(first.status, "unhealthy");
    assert.equal(first.checks.phone_number_access.passed, false);
    assert.match(first.checks.phone_number_access.error, /^Meta Graph API error: 401 - /);
    assert.equal(Date.parse(first.retry_after) - Date.parse(first.timestamp), 5 * 60_000);
    const again = (await health(a, connected.id)).json();
    assert.deepEqual(again, first);

    const patched = await t.api(a, {
      method: "PATCH",
      url: `/platform/v1/whatsapp/phone_numbers/${connected.id}`,
      payload: { whatsapp_phone_number: { name: "Renamed" } },
    });
    assert.equal(patched.statusCode, 200);
    const afterChange = (await health(a, connected.id)).json();
    assert.notEqual(afterChange.timestamp, first.timestamp, "the change dropped the cache and the backoff");
    assert.equal(afterChange.status, "unhealthy");
    assert.equal(Date.parse(afterChange.retry_after) - Date.parse(afterChange.timestamp), 5 * 60_000);
  });

  it("answers status error when Meta fails, without backing off", async () => {
    const { project: a, customer: customerA } = await freshProject("Failing Meta");
    const connected = (await connect(a, customerA, production())).json().data;
    await inject(a, {
      phone_number_id: connected.id,
      operation: "number",
      error: { code: 2, message: "Service temporarily unavailable" },
      http_status: 503,
      remaining: 4,
    });
    const body = (await health(a, connected.id)).json();
    assert.equal(body.status, "error");
    assert.match(body.error, /Service temporarily unavailable/);
    assert.equal(body.retry_after, undefined);
    const next = (await health(a, connected.id)).json();
    assert.equal(next.status, "degraded", "an error is not cached; the next check reaches Meta");
  });

  it("limits each project to 5 checks per second with 429, Retry-After and the limit headers", async () => {
    const limited = await t.createProject("Limited");
    const number = await insertSandboxNumber(t, limited.projectId);
    // Quick calls in a row: six land in the same second long before 200 are made.
    let response = await health(limited, number.phone_number_id);
    for (let i = 0; i < 200 && response.statusCode === 200; i++)
      response = await health(limited, number.phone_number_id);
    assert.equal(response.statusCode, 429);
    assert.deepEqual(response.json(), {
      error: "Rate limit exceeded",
      message:
        "WhatsApp health checks are limited to 5 requests per second and 60 requests per minute per project.",
    });
    assert.ok(Number(response.headers["retry-after"]) >= 1);
    assert.equal(response.headers["x-health-ratelimit-second-remaining"], "0");
    assert.equal(response.headers["x-health-ratelimit-second-limit"], "5");
    const notFound = await health(limited, "123");
    assert.ok([404, 429].includes(notFound.statusCode));
    assert.ok(notFound.headers["x-health-ratelimit-minute-limit"]);
  });
});
