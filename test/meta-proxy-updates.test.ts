import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GraphApiError, WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import sql from "sql-template-tag";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber } from "./support/fixtures.ts";
import { graphError, kapsoClient } from "./support/kapso-client.ts";

// Contact and conversation updates and one template's read on the Meta proxy, through the
// official client; the Platform API must see the same records.

const WABA = "900000000000021";
const OTHER_WABA = "900000000000022";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let numberB: PhoneNumberRow;
let client: WhatsAppClient;
let clientB: WhatsAppClient;
let base: string;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10" } });
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId, { business_account_id: WABA });
  await insertSandboxNumber(t, a.projectId, { business_account_id: OTHER_WABA });
  numberB = await insertSandboxNumber(t, b.projectId, { business_account_id: "900000000000023" });
  client = kapsoClient(t.baseUrl, a.apiKey);
  clientB = kapsoClient(t.baseUrl, b.apiKey);
  base = `${t.baseUrl}/meta/whatsapp/v24.0`;
});
after(() => t.close());

function assertUnknownObject(error: GraphApiError, id: string) {
  assert.equal(error.httpStatus, 400);
  assert.equal(error.code, 100);
  assert.equal(error.errorSubcode, 33);
  assert.match(error.message, new RegExp(`'${id}'`));
}

/** A raw proxy call, as a client that is not the official one would make it. */
async function call(method: string, path: string, body?: string, apiKey = a.apiKey) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "x-api-key": apiKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body,
  });
  return { status: response.status, body: await response.json() };
}

const writes = (from: string) =>
  simulateInbound(t.ctx, {
    phoneNumberId: number.phone_number_id,
    from,
    profileName: "Caro",
    message: { type: "text", text: { body: "Hi" } },
  });

describe("PATCH /{phone_number_id}/contacts/{wa_id}", () => {
  it("updates the contact the Platform API serves, and answers {success: true}", async () => {
    await writes("15550401000");
    const result = await client.contacts.update({
      phoneNumberId: number.phone_number_id,
      waId: "15550401000",
      displayName: "Carolina (VIP)",
      metadata: { tier: "gold", visits: 3 },
    });
    assert.deepEqual(result, { success: true });

    const contact = await client.contacts.get({ phoneNumberId: number.phone_number_id, waId: "15550401000" });
    assert.equal(contact.displayName, "Carolina (VIP)");
    assert.equal(contact.profileName, "Caro", "untouched");
    assert.deepEqual(contact.metadata, { tier: "gold", visits: 3 });

    const platform = await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/contacts/15550401000" });
    assert.equal(platform.json().data.display_name, "Carolina (VIP)");
    assert.deepEqual(platform.json().data.metadata, { tier: "gold", visits: 3 });

    await client.contacts.update({
      phoneNumberId: number.phone_number_id,
      waId: "+15550401000",
      profileName: "Carolina",
      metadata: { tier: "silver" },
    });
    const again = await client.contacts.get({ phoneNumberId: number.phone_number_id, waId: "15550401000" });
    assert.equal(again.profileName, "Carolina");
    assert.deepEqual(again.metadata, { tier: "silver" }, "metadata is replaced, as on the Platform API");

    const cleared = await call(
      "PATCH",
      `/${number.phone_number_id}/contacts/15550401000`,
      '{"display_name":null}',
    );
    assert.deepEqual(cleared, { status: 200, body: { success: true } });
    const [row] = await t.ctx.db.query<{ display_name: string | null }>(
      sql`SELECT display_name FROM contacts WHERE project_id = ${a.projectId} AND wa_id = '15550401000'`,
    );
    assert.equal(row!.display_name, null);
  });

  it("refuses unknown contacts and other projects' numbers and contacts like Meta", async () => {
    await writes("15550402000");
    assertUnknownObject(
      await graphError(
        client.contacts.update({
          phoneNumberId: number.phone_number_id,
          waId: "15550409999",
          displayName: "x",
        }),
      ),
      "15550409999",
    );
    assertUnknownObject(
      await graphError(
        clientB.contacts.update({
          phoneNumberId: number.phone_number_id,
          waId: "15550402000",
          displayName: "x",
        }),
      ),
      number.phone_number_id,
    );
    assertUnknownObject(
      await graphError(
        clientB.contacts.update({
          phoneNumberId: numberB.phone_number_id,
          waId: "15550402000",
          displayName: "x",
        }),
      ),
      "15550402000",
    );
    const contact = await client.contacts.get({ phoneNumberId: number.phone_number_id, waId: "15550402000" });
    assert.equal(contact.displayName ?? null, null, "nothing changed");
  });

  it("answers malformed bodies with Meta's error object naming the parameter", async () => {
    await writes("15550403000");
    const path = `/${number.phone_number_id}/contacts/15550403000`;
    for (const [body, pattern] of [
      ['{"display_name": 5}', /display_name/],
      ['{"profile_name": "x", "nickname": "y"}', /nickname/],
      ['{"metadata": ["a"]}', /metadata/],
      ['{"metadata": "a"}', /metadata/],
      ["{}", /profile_name, display_name or metadata/],
      ["[1]", /JSON object/],
      [`{"display_name": "${"x".repeat(256)}"}`, /display_name/],
      ["{not json", /./],
    ] as const) {
      const answer = await call("PATCH", path, body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 100, body);
      assert.equal(answer.body.error.type, "OAuthException");
      assert.ok(answer.body.error.fbtrace_id);
      assert.match(answer.body.error.message, pattern);
    }
    const contact = await client.contacts.get({ phoneNumberId: number.phone_number_id, waId: "15550403000" });
    assert.equal(contact.profileName, "Caro", "nothing changed");
  });
});

describe("PATCH /conversations/{conversation_id}", () => {
  it("ends and reopens a conversation, as the Platform API sees it", async () => {
    await writes("15550404000");
    const [conversation] = (
      await client.conversations.list({ phoneNumberId: number.phone_number_id, phoneNumber: "15550404000" })
    ).data;
    assert.equal(conversation!.status, "active");

    assert.deepEqual(
      await client.conversations.updateStatus({ conversationId: conversation!.id, status: "ended" }),
      {
        success: true,
      },
    );
    const platform = await t.api(a, {
      method: "GET",
      url: `/platform/v1/whatsapp/conversations/${conversation!.id}`,
    });
    assert.equal(platform.json().data.status, "ended");

    await client.conversations.updateStatus({ conversationId: conversation!.id, status: "active" });
    assert.equal((await client.conversations.get({ conversationId: conversation!.id })).status, "active");
  });

  it("refuses a reopening while the contact has another active conversation", async () => {
    await writes("15550405000");
    const [first] = (
      await client.conversations.list({ phoneNumberId: number.phone_number_id, phoneNumber: "15550405000" })
    ).data;
    await client.conversations.updateStatus({ conversationId: first!.id, status: "ended" });
    await writes("15550405000");
    const refused = await graphError(
      client.conversations.updateStatus({ conversationId: first!.id, status: "active" }),
    );
    assert.equal(refused.httpStatus, 400);
    assert.equal(refused.code, 100);
    assert.match(refused.message, /another active conversation/);
    assert.equal((await client.conversations.get({ conversationId: first!.id })).status, "ended");
  });

  it("refuses unknown ids, other projects and malformed bodies like Meta", async () => {
    await writes("15550406000");
    const [conversation] = (
      await client.conversations.list({ phoneNumberId: number.phone_number_id, phoneNumber: "15550406000" })
    ).data;
    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      assertUnknownObject(
        await graphError(client.conversations.updateStatus({ conversationId: id, status: "ended" })),
        id,
      );
    }
    assertUnknownObject(
      await graphError(
        clientB.conversations.updateStatus({ conversationId: conversation!.id, status: "ended" }),
      ),
      conversation!.id,
    );
    for (const [body, pattern] of [
      ['{"status": "closed"}', /status must be active or ended/],
      ["{}", /parameter status is required/],
      ['{"status": "ended", "reason": "x"}', /reason/],
    ] as const) {
      const answer = await call("PATCH", `/conversations/${conversation!.id}`, body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 100);
      assert.match(answer.body.error.message, pattern);
    }
    assert.equal((await client.conversations.get({ conversationId: conversation!.id })).status, "active");
  });
});

describe("GET /{waba_id}/message_templates/{template_id}", () => {
  const templateId = async (waba: string, name: string) => {
    const list = await client.templates.list({ businessAccountId: waba, name });
    return list.data[0]!.id;
  };

  it("reads one template of the WABA, with Meta's fields selection", async () => {
    const id = await templateId(WABA, "order_update");
    const template = await client.templates.get({ businessAccountId: WABA, templateId: id });
    assert.equal(template.id, id);
    assert.equal(template.name, "order_update");
    assert.equal(template.status, "APPROVED");
    assert.equal(template.language, "en_US");
    assert.ok(Array.isArray(template.components));

    const some = await client.templates.get({
      businessAccountId: WABA,
      templateId: id,
      fields: "status,category",
    });
    assert.deepEqual(some, { id, status: "APPROVED", category: "UTILITY" });
  });

  it("refuses templates of another WABA, unknown ids and other projects like Meta", async () => {
    const foreign = await templateId(OTHER_WABA, "hello_world");
    assertUnknownObject(
      await graphError(client.templates.get({ businessAccountId: WABA, templateId: foreign })),
      foreign,
    );
    for (const id of ["123456789", "abc"]) {
      const error = await graphError(client.templates.get({ businessAccountId: WABA, templateId: id }));
      assert.equal(error.code, 100);
      assert.equal(error.errorSubcode, 33);
    }
    const own = await templateId(WABA, "hello_world");
    assertUnknownObject(
      await graphError(clientB.templates.get({ businessAccountId: WABA, templateId: own })),
      WABA,
    );
  });
});
