import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GraphApiError, WhatsAppClient } from "@kapso/whatsapp-cloud-api";
import sql from "sql-template-tag";
import { insertPhoneNumber, type PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { SANDBOX_VERIFICATION_CODE } from "../src/sandbox/number-settings.ts";
import { signupToken } from "../src/sandbox/signup.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber, metaId } from "./support/fixtures.ts";
import { graphError, kapsoClient } from "./support/kapso-client.ts";

// A number's registration, verification codes, settings and business profile through the Meta
// proxy, with the official client: answered by the sandbox for sandbox numbers, and passed to
// META_GRAPH_URL with the number's own token for production numbers (pointed at the sandbox).

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let client: WhatsAppClient;
let clientB: WhatsAppClient;
let base: string;

before(async () => {
  t = await startTestApp({ listen: true });
  t.ctx.config.meta.graphUrl = `${t.baseUrl}/sandbox/graph`;
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  await insertSandboxNumber(t, b.projectId);
  client = kapsoClient(t.baseUrl, a.apiKey);
  clientB = kapsoClient(t.baseUrl, b.apiKey);
  base = `${t.baseUrl}/meta/whatsapp/v24.0/${number.phone_number_id}`;
});
after(() => t.close());

/** Meta's invalid-parameter error, with its details naming `pattern`. */
function assertInvalid(error: GraphApiError, pattern: RegExp) {
  assert.equal(error.httpStatus, 400);
  assert.equal(error.code, 100);
  assert.match(`${error.message} ${JSON.stringify(error.raw)}`, pattern);
}

async function post(path: string, body: string) {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "x-api-key": a.apiKey, "content-type": "application/json" },
    body,
  });
  return { status: response.status, body: await response.json() };
}

function productionNumber(token: string): Promise<PhoneNumberRow> {
  return insertPhoneNumber(t.ctx.db, {
    project_id: a.projectId,
    kind: "production",
    phone_number_id: metaId(),
    business_account_id: metaId(),
    name: "Support Line",
    access_token_encrypted: t.ctx.cipher.encrypt(token),
    display_phone_number: "+1 555-123-4567",
  });
}

describe("registration and verification codes through the Meta proxy", () => {
  it("registers and deregisters a sandbox number", async () => {
    const id = number.phone_number_id;
    assert.deepEqual(await client.phoneNumbers.register({ phoneNumberId: id, pin: "123456" }), {
      success: true,
    });
    const [registered] = await t.ctx.db.query<{ registered_at: string | null }>(
      sql`SELECT registered_at FROM sandbox_numbers WHERE phone_number_id = ${id}`,
    );
    assert.ok(registered?.registered_at, "the sandbox recorded the registration");
    assert.deepEqual(await client.phoneNumbers.deregister({ phoneNumberId: id }), { success: true });

    assertInvalid(
      await graphError(client.phoneNumbers.register({ phoneNumberId: id, pin: "12ab" })),
      /pin must be a 6-digit string/,
    );
    const noProduct = await post("/register", '{"pin": "123456"}');
    assert.equal(noProduct.status, 400);
    assert.match(noProduct.body.error.message, /messaging_product is required/);
  });

  it("requests a code and verifies it, refusing wrong codes with Meta's 136025", async () => {
    const id = number.phone_number_id;
    const early = await graphError(client.phoneNumbers.verifyCode({ phoneNumberId: id, code: "123456" }));
    assert.equal(early.code, 136025, "no code was requested yet");

    assert.deepEqual(
      await client.phoneNumbers.requestCode({ phoneNumberId: id, codeMethod: "SMS", language: "en_US" }),
      { success: true },
    );
    const wrong = await graphError(client.phoneNumbers.verifyCode({ phoneNumberId: id, code: "000000" }));
    assert.equal(wrong.httpStatus, 400);
    assert.equal(wrong.code, 136025);
    assert.match(JSON.stringify(wrong.raw), /incorrect code/);
    assert.deepEqual(
      await client.phoneNumbers.verifyCode({ phoneNumberId: id, code: SANDBOX_VERIFICATION_CODE }),
      { success: true },
    );
    const reused = await graphError(
      client.phoneNumbers.verifyCode({ phoneNumberId: id, code: SANDBOX_VERIFICATION_CODE }),
    );
    assert.equal(reused.code, 136025, "a code verifies once");

    for (const [body, pattern] of [
      ['{"code_method": "FAX", "language": "en_US"}', /code_method must be SMS or VOICE/],
      ['{"code_method": "VOICE"}', /language is required/],
      ['{"language": "en_US"}', /code_method is required/],
      ['{"code_method": "SMS", "language": "english"}', /language must be a language code/],
    ] as const) {
      const answer = await post("/request_code", body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 100);
      assert.match(JSON.stringify(answer.body.error), pattern);
    }
    const noCode = await post("/verify_code", "{}");
    assert.match(noCode.body.error.message, /code is required/);
    const notJson = await post("/verify_code", "{oops");
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 100);
  });
});

describe("settings through the Meta proxy", () => {
  it("reads the defaults, and a change is read back", async () => {
    const id = number.phone_number_id;
    const defaults = await client.phoneNumbers.settings.get({ phoneNumberId: id });
    assert.equal(defaults.calling?.status, "DISABLED");
    assert.deepEqual(defaults.storageConfiguration, { status: "DEFAULT" });

    const updated = await client.phoneNumbers.settings.update({
      phoneNumberId: id,
      calling: {
        status: "ENABLED",
        callHours: {
          status: "ENABLED",
          timezoneId: "Europe/Berlin",
          weeklyOperatingHours: [{ dayOfWeek: "MONDAY", openTime: "0900", closeTime: "1700" }],
        },
        sip: {
          status: "ENABLED",
          servers: [{ hostname: "sip.example.com", port: 5061, sipUserPassword: "s3cret" }],
        },
      },
    });
    assert.deepEqual(updated, { success: true });
    await client.phoneNumbers.settings.update({
      phoneNumberId: id,
      calling: { callIconVisibility: "DISABLE_ALL" },
    });

    const read = await client.phoneNumbers.settings.get({ phoneNumberId: id });
    assert.equal(read.calling?.status, "ENABLED", "kept when another member changed");
    assert.equal(read.calling?.callIconVisibility, "DISABLE_ALL");
    assert.deepEqual(read.calling?.callHours?.weeklyOperatingHours, [
      { dayOfWeek: "MONDAY", openTime: "0900", closeTime: "1700" },
    ]);
    assert.deepEqual(
      read.calling?.sip?.servers,
      [{ hostname: "sip.example.com", port: 5061 }],
      "no password",
    );
    const withCredentials = await client.phoneNumbers.settings.get({
      phoneNumberId: id,
      includeSipCredentials: true,
    });
    assert.equal(withCredentials.calling?.sip?.servers?.[0]?.sipUserPassword, "s3cret");
  });

  it("answers invalid settings with Meta's error naming the field, changing nothing", async () => {
    const before = await client.phoneNumbers.settings.get({ phoneNumberId: number.phone_number_id });
    for (const [body, pattern] of [
      ['{"calling": {"status": "MAYBE"}}', /calling.status must be one of ENABLED, DISABLED/],
      ['{"calling": {"colour": "red"}}', /calling.colour is not a valid parameter/],
      [
        '{"calling": {"call_hours": {"weekly_operating_hours": [{"day_of_week": "FUNDAY", "open_time": "0900", "close_time": "1700"}]}}}',
        /day_of_week/,
      ],
      [
        '{"calling": {"call_hours": {"weekly_operating_hours": [{"day_of_week": "MONDAY", "open_time": "25:00", "close_time": "1700"}]}}}',
        /open_time must be a time HHMM/,
      ],
      ['{"calling": {"sip": {"servers": [{"hostname": "sip.example.com", "port": 70000}]}}}', /port/],
      ['{"storage_configuration": {"status": "IN_COUNTRY_STORAGE_ENABLED"}}', /data_localization_region/],
      ['{"nonsense": true}', /nonsense is not a valid parameter/],
      ["{}", /calling is required/],
      ["[]", /JSON object/],
    ] as const) {
      const answer = await post("/settings", body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 100, body);
      assert.equal(answer.body.error.type, "OAuthException");
      assert.match(JSON.stringify(answer.body.error), pattern);
    }
    assert.deepEqual(
      await client.phoneNumbers.settings.get({ phoneNumberId: number.phone_number_id }),
      before,
    );
  });
});

describe("business profile through the Meta proxy", () => {
  it("updates the profile and reads it back, with fields=", async () => {
    const id = number.phone_number_id;
    assert.deepEqual(
      await client.phoneNumbers.businessProfile.update({
        phoneNumberId: id,
        about: "Fresh bread daily",
        email: "hello@bakery.example",
        vertical: "RETAIL",
        websites: ["https://bakery.example"],
      }),
      { success: true },
    );
    const profile = await client.phoneNumbers.businessProfile.get({ phoneNumberId: id });
    assert.deepEqual(profile.data[0], {
      messagingProduct: "whatsapp",
      about: "Fresh bread daily",
      email: "hello@bakery.example",
      vertical: "RETAIL",
      websites: ["https://bakery.example"],
    });
    const some = await client.phoneNumbers.businessProfile.get({
      phoneNumberId: id,
      fields: "about,vertical",
    });
    assert.deepEqual(some.data[0], {
      messagingProduct: "whatsapp",
      about: "Fresh bread daily",
      vertical: "RETAIL",
    });
    const unknown = await graphError(
      client.phoneNumbers.businessProfile.get({ phoneNumberId: id, fields: "colour" }),
    );
    assertInvalid(unknown, /nonexisting field \(colour\)/);
  });

  it("answers invalid profiles with Meta's error naming the field", async () => {
    for (const [body, pattern] of [
      ['{"messaging_product": "whatsapp", "vertical": "BAKERY"}', /vertical: must be one of/],
      ['{"messaging_product": "whatsapp", "email": "not-an-email"}', /email/],
      [
        `{"messaging_product": "whatsapp", "about": "${"x".repeat(140)}"}`,
        /about: must be 1 to 139 characters/,
      ],
      ['{"messaging_product": "whatsapp", "websites": ["a", "b", "c"]}', /websites/],
      ['{"about": "Hi"}', /messaging_product is required/],
    ] as const) {
      const answer = await post("/whatsapp_business_profile", body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 100);
      assert.match(JSON.stringify(answer.body.error), pattern);
    }
  });
});

describe("number calls: scoping and production numbers", () => {
  it("refuses another project's number like an unknown Meta id, on every call", async () => {
    const id = number.phone_number_id;
    const calls: [string, () => Promise<unknown>][] = [
      ["register", () => clientB.phoneNumbers.register({ phoneNumberId: id, pin: "123456" })],
      ["deregister", () => clientB.phoneNumbers.deregister({ phoneNumberId: id })],
      [
        "request_code",
        () => clientB.phoneNumbers.requestCode({ phoneNumberId: id, codeMethod: "SMS", language: "en" }),
      ],
      ["verify_code", () => clientB.phoneNumbers.verifyCode({ phoneNumberId: id, code: "123456" })],
      ["settings", () => clientB.phoneNumbers.settings.get({ phoneNumberId: id })],
      [
        "settings update",
        () => clientB.phoneNumbers.settings.update({ phoneNumberId: id, calling: { status: "DISABLED" } }),
      ],
      ["profile", () => clientB.phoneNumbers.businessProfile.get({ phoneNumberId: id })],
      [
        "profile update",
        () => clientB.phoneNumbers.businessProfile.update({ phoneNumberId: id, about: "Stolen" }),
      ],
    ];
    for (const [name, request] of calls) {
      const error = await graphError(request());
      assert.equal(error.code, 100, name);
      assert.equal(error.errorSubcode, 33, name);
      assert.match(error.message, new RegExp(id), name);
    }
    const profile = await client.phoneNumbers.businessProfile.get({ phoneNumberId: id, fields: "about" });
    assert.notEqual(profile.data[0]?.about, "Stolen");
  });

  it("sends a production number's calls to META_GRAPH_URL with the number's own token", async () => {
    const live = await productionNumber(signupToken("sandbox-pin-mismatch-proxy"));
    const refused = await graphError(
      client.phoneNumbers.register({ phoneNumberId: live.phone_number_id, pin: "123456" }),
    );
    assert.equal(refused.code, 133005, "the sandbox saw the number's own token and its scenario");

    await client.phoneNumbers.businessProfile.update({
      phoneNumberId: live.phone_number_id,
      about: "Live line",
    });
    const profile = await client.phoneNumbers.businessProfile.get({ phoneNumberId: live.phone_number_id });
    assert.equal(profile.data[0]?.about, "Live line");

    const badToken = await productionNumber("EAAG-not-a-sandbox-token");
    const unauthorized = await graphError(
      client.phoneNumbers.settings.get({ phoneNumberId: badToken.phone_number_id }),
    );
    assert.equal(unauthorized.httpStatus, 401);
    assert.equal(unauthorized.code, 190, "Meta's refusal of the number's token, passed through");
  });
});

describe("the phone number node through the Meta proxy", () => {
  const read = async (apiKey: string, query = "") => {
    const response = await fetch(`${base}${query}`, { headers: { "x-api-key": apiKey } });
    return { status: response.status, body: await response.json() };
  };

  it("reads the project's number, with fields=, and nothing of another project's", async () => {
    const whole = await read(a.apiKey);
    assert.equal(whole.status, 200, JSON.stringify(whole.body));
    assert.equal(whole.body.id, number.phone_number_id);
    assert.ok(whole.body.display_phone_number);
    assert.ok(whole.body.verified_name);

    const some = await read(a.apiKey, "?fields=verified_name,quality_rating");
    assert.deepEqual(Object.keys(some.body).sort(), ["id", "quality_rating", "verified_name"]);
    const unknown = await read(a.apiKey, "?fields=secret_token");
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 100);
    assert.match(unknown.body.error.message, /secret_token/);

    const foreign = await read(b.apiKey);
    assert.equal(foreign.status, 400);
    assert.equal(foreign.body.error.code, 100);
    assert.equal(JSON.stringify(foreign.body).includes(String(whole.body.verified_name)), false);
  });
});
