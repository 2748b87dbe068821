import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import type { PhoneNumberRow } from "../src/modules/phone-numbers/store.ts";
import { addUser } from "../src/modules/users/service.ts";
import { simulateInbound } from "../src/sandbox/inbound.ts";
import { graphTargetFor } from "../src/whatsapp/targets.ts";
import { startTestApp, type TestApp, type TestProject } from "./support/app.ts";
import { insertSandboxNumber, PNG } from "./support/fixtures.ts";

let t: TestApp;
let a: TestProject;
let b: TestProject;
let numberOne: PhoneNumberRow;
let numberTwo: PhoneNumberRow;
let customerId: string;

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_SANDBOX_STATUS_DELAY_MS: "10" } });
  a = await t.createProject("A");
  b = await t.createProject("B");
  customerId = (
    await t.api(a, { method: "POST", url: "/platform/v1/customers", payload: { customer: { name: "Acme" } } })
  ).json().data.id;
  numberOne = await insertSandboxNumber(t, a.projectId, { customer_id: customerId });
  numberTwo = await insertSandboxNumber(t, a.projectId);
  await simulateInbound(t.ctx, {
    phoneNumberId: numberOne.phone_number_id,
    from: "15550501000",
    profileName: "One",
    message: { type: "text", text: { body: "on one" } },
  });
  await simulateInbound(t.ctx, {
    phoneNumberId: numberTwo.phone_number_id,
    from: "15550502000",
    profileName: "Two",
    message: { type: "text", text: { body: "on two" } },
  });
});
after(() => t.close());

async function embed(p: TestProject, inbox_embed: Record<string, unknown>) {
  const response = await t.api(p, {
    method: "POST",
    url: "/platform/v1/inbox_embeds",
    payload: { inbox_embed },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().data as { id: string; token: string; embed_url: string };
}

const api = (
  token: string,
  url: string,
  init: { method?: "GET" | "POST" | "PATCH"; payload?: unknown; origin?: string } = {},
) =>
  t.request({
    method: init.method ?? "GET",
    url: `/embed/api${url}`,
    payload: init.payload as never,
    headers: { authorization: `Bearer ${token}`, ...(init.origin ? { origin: init.origin } : {}) },
  });

describe("the embed page", () => {
  it("serves the inbox with frame-ancestors from allowed_origins, and a 401 page for a bad token", async () => {
    const e = await embed(a, {
      scope_type: "project",
      allowed_origins: ["https://app.example.com"],
      language: "es",
      default_mode: "dark",
    });
    assert.equal(e.embed_url, `http://parley.test/embed/${e.token}`);
    const page = await t.request({ method: "GET", url: `/embed/${e.token}` });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers["content-security-policy"], "frame-ancestors https://app.example.com");
    assert.match(page.body, /"language":"es"/);
    assert.match(page.body, /"mode":"dark"/);
    assert.match(
      (await t.request({ method: "GET", url: `/embed/${e.token}?mode=light` })).body,
      /"mode":"light"/,
    );
    const open = await embed(a, { scope_type: "project" });
    assert.equal(
      (await t.request({ method: "GET", url: `/embed/${open.token}` })).headers["content-security-policy"],
      "frame-ancestors *",
    );
    await t.api(a, { method: "DELETE", url: `/platform/v1/inbox_embeds/${e.id}` });
    const revoked = await t.request({ method: "GET", url: `/embed/${e.token}` });
    assert.equal(revoked.statusCode, 401);
    assert.match(revoked.body, /invalid, revoked or expired/);
    assert.equal((await t.request({ method: "GET", url: "/embed/nope" })).statusCode, 401);
    const [row] = await t.ctx.db.query<{ last_used_at: string | null }>(
      sql`SELECT last_used_at FROM inbox_embeds WHERE id = ${open.id}`,
    );
    assert.ok(row!.last_used_at, "use is recorded");
  });
});

describe("the embed API", () => {
  it("shows only the conversations of the embed's scope", async () => {
    const names = async (token: string) =>
      (await api(token, "/conversations"))
        .json()
        .data.map((c: { phone_number: string }) => c.phone_number)
        .sort();
    assert.deepEqual(await names((await embed(a, { scope_type: "project" })).token), [
      "15550501000",
      "15550502000",
    ]);
    assert.deepEqual(await names((await embed(a, { scope_type: "customer", scope_id: customerId })).token), [
      "15550501000",
    ]);
    const byNumber = await embed(a, { scope_type: "phone_number", scope_id: numberTwo.phone_number_id });
    assert.deepEqual(await names(byNumber.token), ["15550502000"]);
    const outside = (
      await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/conversations?phone_number=15550501000" })
    ).json().data[0];
    assert.equal((await api(byNumber.token, `/conversations/${outside.id}/messages`)).statusCode, 404);
    assert.equal(
      (
        await api(byNumber.token, `/conversations/${outside.id}/messages`, {
          method: "POST",
          payload: { text: "x" },
        })
      ).statusCode,
      404,
    );
    assert.deepEqual(await names((await embed(b, { scope_type: "project" })).token), []);

    const { member } = await addUser(t.ctx, a.projectId, {
      email: "agent@example.com",
      name: "Agent",
      role: "member",
    });
    const assigned = await embed(a, { scope_type: "project", assigned_user_id: member.user_id });
    assert.deepEqual(await names(assigned.token), []);
    await t.api(a, {
      method: "POST",
      url: `/platform/v1/whatsapp/conversations/${outside.id}/assignments`,
      payload: { assignment: { user_id: member.user_id } },
    });
    assert.deepEqual(await names(assigned.token), ["15550501000"]);
  });

  it("refuses a bad token and a foreign Origin", async () => {
    const e = await embed(a, { scope_type: "project", allowed_origins: ["https://*.example.com"] });
    assert.equal((await api("nope", "/conversations")).statusCode, 401);
    const foreign = await api(e.token, "/conversations", { origin: "https://evil.test" });
    assert.equal(foreign.statusCode, 403);
    const allowed = await api(e.token, "/conversations", { origin: "https://app.example.com" });
    assert.equal(allowed.statusCode, 200);
    assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example.com");
  });

  it("replies in a conversation through the send path and reads the thread", async () => {
    const e = await embed(a, { scope_type: "customer", scope_id: customerId });
    const [conversation] = (await api(e.token, "/conversations")).json().data;
    assert.equal(conversation.unread_count, 1);
    const sent = await api(e.token, `/conversations/${conversation.id}/messages`, {
      method: "POST",
      payload: { text: "hello from the inbox" },
    });
    assert.equal(sent.statusCode, 201, sent.body);
    const thread = (await api(e.token, `/conversations/${conversation.id}/messages`)).json().data;
    assert.equal(thread[0].kapso.content, "hello from the inbox");
    assert.equal(thread[0].kapso.direction, "outbound");
    const [row] = await t.ctx.db.query<{ origin: string }>(
      sql`SELECT origin FROM messages WHERE text = 'hello from the inbox'`,
    );
    assert.equal(row!.origin, "inbox");
    await api(e.token, `/conversations/${conversation.id}/read`, { method: "POST", payload: {} });
    assert.equal((await api(e.token, "/conversations")).json().data[0].unread_count, 0);
    assert.equal(
      (
        await api(e.token, `/conversations/${conversation.id}/messages`, {
          method: "POST",
          payload: { text: "" },
        })
      ).statusCode,
      422,
    );
  });
});

describe("the embed list's paging and filters", () => {
  let paged: PhoneNumberRow;
  before(async () => {
    paged = await insertSandboxNumber(t, a.projectId);
    for (let i = 0; i < 65; i++) {
      await simulateInbound(t.ctx, {
        phoneNumberId: paged.phone_number_id,
        from: `1555090${String(i).padStart(4, "0")}`,
        profileName: `Paged ${i}`,
        message: { type: "text", text: { body: `message ${i}` } },
      });
    }
  });

  it("pages through the conversations 30 at a time with cursors, newest activity first", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: paged.phone_number_id });
    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    do {
      const page: { data: { phone_number: string }[]; paging: { next: string | null } } = (
        await api(e.token, `/conversations${after ? `?after=${encodeURIComponent(after)}` : ""}`)
      ).json();
      sizes.push(page.data.length);
      seen.push(...page.data.map((c) => c.phone_number));
      after = page.paging.next;
    } while (after);
    assert.deepEqual(sizes, [30, 30, 5]);
    assert.equal(new Set(seen).size, 65, "no conversation twice");
    assert.equal(seen[0], "15550900064", "the latest first");
    assert.equal(seen[64], "15550900000");
  });

  it("filters unread conversations and those waiting for a reply (handoff)", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: paged.phone_number_id });
    const list = async (query: string) => {
      const all: { id: string; phone_number: string }[] = [];
      let after: string | null = null;
      do {
        const sep = query ? "&" : "";
        const page: { data: { id: string; phone_number: string }[]; paging: { next: string | null } } = (
          await api(
            e.token,
            `/conversations?${query}${after ? `${sep}after=${encodeURIComponent(after)}` : ""}`,
          )
        ).json();
        all.push(...page.data);
        after = page.paging.next;
      } while (after);
      return all;
    };
    const everything = await list("");
    const [read, answered] = everything;
    await api(e.token, `/conversations/${read!.id}/read`, { method: "POST", payload: {} });
    const sent = await api(e.token, `/conversations/${answered!.id}/messages`, {
      method: "POST",
      payload: { text: "on it" },
    });
    assert.equal(sent.statusCode, 201, sent.body);
    const unread = await list("unread=true");
    assert.equal(unread.length, 64);
    assert.ok(!unread.some((c) => c.id === read!.id), "a conversation the inbox opened is read");
    const waiting = await list("handoff=true");
    assert.equal(waiting.length, 64);
    assert.ok(!waiting.some((c) => c.id === answered!.id), "an answered conversation waits no more");
    assert.ok(
      waiting.some((c) => c.id === read!.id),
      "read is not answered",
    );
    const both = await list("unread=true&handoff=true");
    assert.equal(both.length, 63);

    // The contact writes again: unread and waiting again.
    await simulateInbound(t.ctx, {
      phoneNumberId: paged.phone_number_id,
      from: answered!.phone_number,
      message: { type: "text", text: { body: "thanks" } },
    });
    assert.ok((await list("handoff=true")).some((c) => c.id === answered!.id));
    assert.equal((await api(e.token, "/conversations?unread=maybe")).statusCode, 422);
  });

  it("narrows to one number with phone_number_id, never past the embed's scope", async () => {
    const project = await embed(a, { scope_type: "project" });
    const only = (
      await api(project.token, `/conversations?phone_number_id=${numberTwo.phone_number_id}`)
    ).json();
    assert.deepEqual(
      only.data.map((c: { phone_number: string }) => c.phone_number),
      ["15550502000"],
    );
    const byNumber = await embed(a, { scope_type: "phone_number", scope_id: paged.phone_number_id });
    const other = (
      await api(byNumber.token, `/conversations?phone_number_id=${numberTwo.phone_number_id}`)
    ).json();
    assert.deepEqual(other.data, []);
  });

  it("presets the page's filters from the URL", async () => {
    const e = await embed(a, { scope_type: "project" });
    const page = await t.request({
      method: "GET",
      url: `/embed/${e.token}?status=all&unread=1&handoff=true&search=Pa&whatsapp_config_id=${paged.id}`,
    });
    const boot = JSON.parse(
      /<script type="application\/json" id="boot">(.*?)<\/script>/s.exec(page.body)![1]!,
    );
    assert.deepEqual(boot.filters, {
      status: "all",
      search: "Pa",
      unread: true,
      handoff: true,
      phone_number_id: paged.phone_number_id,
    });
    const plain = await t.request({ method: "GET", url: `/embed/${e.token}?unread=0&phone_number_id=all` });
    const plainBoot = JSON.parse(/id="boot">(.*?)<\/script>/s.exec(plain.body)![1]!);
    assert.equal(plainBoot.filters.unread, false);
    assert.equal(plainBoot.filters.phone_number_id, null);
  });
});

describe("the embed's details panel calls", () => {
  const conversationOf = async (phone: string) =>
    (
      await t.api(a, { method: "GET", url: `/platform/v1/whatsapp/conversations?phone_number=${phone}` })
    ).json().data[0] as { id: string };

  it("renames the contact of a conversation in scope, and only in scope", async () => {
    const one = await conversationOf("15550501000");
    const e = await embed(a, { scope_type: "customer", scope_id: customerId });
    const renamed = await api(e.token, `/conversations/${one.id}/contact`, {
      method: "PATCH",
      payload: { display_name: "  Uno (VIP)  " },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    const data = renamed.json().data;
    assert.equal(data.kapso.contact_name, "Uno (VIP)");
    assert.deepEqual(
      { display_name: data.contact.display_name, profile_name: data.contact.profile_name },
      { display_name: "Uno (VIP)", profile_name: "One" },
    );
    const contact = (
      await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/contacts/15550501000" })
    ).json().data;
    assert.equal(contact.display_name, "Uno (VIP)", "the same contact the Platform API sees");

    // Outside the scope: a 404, and the contact is untouched.
    const two = await conversationOf("15550502000");
    const outside = await api(e.token, `/conversations/${two.id}/contact`, {
      method: "PATCH",
      payload: { display_name: "Hijacked" },
    });
    assert.equal(outside.statusCode, 404);
    const untouched = (
      await t.api(a, { method: "GET", url: "/platform/v1/whatsapp/contacts/15550502000" })
    ).json().data;
    assert.equal(untouched.display_name, null);
    const other = await embed(b, { scope_type: "project" });
    assert.equal(
      (
        await api(other.token, `/conversations/${one.id}/contact`, {
          method: "PATCH",
          payload: { display_name: "x" },
        })
      ).statusCode,
      404,
      "another project's embed",
    );

    const tooLong = await api(e.token, `/conversations/${one.id}/contact`, {
      method: "PATCH",
      payload: { display_name: "x".repeat(256) },
    });
    assert.equal(tooLong.statusCode, 422);
    assert.match(tooLong.json().error, /display_name/);
    const cleared = await api(e.token, `/conversations/${one.id}/contact`, {
      method: "PATCH",
      payload: { display_name: "" },
    });
    assert.equal(cleared.json().data.kapso.contact_name, "One", "back to the WhatsApp profile name");
  });

  it("ends and reopens a conversation in scope", async () => {
    const one = await conversationOf("15550501000");
    const e = await embed(a, { scope_type: "project" });
    const ended = await api(e.token, `/conversations/${one.id}`, {
      method: "PATCH",
      payload: { status: "ended" },
    });
    assert.equal(ended.statusCode, 200, ended.body);
    assert.equal(ended.json().data.status, "ended");
    const reopened = await api(e.token, `/conversations/${one.id}`, {
      method: "PATCH",
      payload: { status: "active" },
    });
    assert.equal(reopened.json().data.status, "active");
    assert.equal(
      (await api(e.token, `/conversations/${one.id}`, { method: "PATCH", payload: { status: "closed" } }))
        .statusCode,
      422,
    );
    const byNumber = await embed(a, { scope_type: "phone_number", scope_id: numberTwo.phone_number_id });
    assert.equal(
      (
        await api(byNumber.token, `/conversations/${one.id}`, {
          method: "PATCH",
          payload: { status: "ended" },
        })
      ).statusCode,
      404,
    );
  });
});

describe("the embed's composer", () => {
  let composerNumber: PhoneNumberRow;
  const twoDaysAgo = () => String(Math.floor(Date.now() / 1000) - 2 * 24 * 3600);

  before(async () => {
    composerNumber = await insertSandboxNumber(t, a.projectId);
    await simulateInbound(t.ctx, {
      phoneNumberId: composerNumber.phone_number_id,
      from: "15550810000",
      profileName: "Recent",
      message: { type: "text", text: { body: "send me the photo" } },
    });
    await simulateInbound(t.ctx, {
      phoneNumberId: composerNumber.phone_number_id,
      from: "15550820000",
      profileName: "Old",
      message: { type: "text", text: { body: "long ago" }, timestamp: twoDaysAgo() },
    });
  });

  const conversationOf = async (token: string, phone: string) => {
    const list = (await api(token, "/conversations?status=all")).json().data as {
      id: string;
      phone_number: string;
      service_window_expires_at: string | null;
    }[];
    return list.find((c) => c.phone_number === phone)!;
  };

  /** A multipart upload over a real socket, as the page sends it. */
  const upload = (token: string, conversationId: string, form: FormData) =>
    fetch(`${t.baseUrl}/embed/api/conversations/${conversationId}/media`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });

  const sandboxSends = async (recipient: string) =>
    (
      await t.api(a, {
        method: "GET",
        url: `/sandbox/sends?phone_number_id=${composerNumber.phone_number_id}&recipient=${recipient}`,
      })
    ).json().data as { type: string; body: Record<string, unknown> }[];

  it("uploads a file to the number's media and sends it by id, with its caption", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: composerNumber.phone_number_id });
    const conversation = await conversationOf(e.token, "15550810000");
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(PNG)], { type: "image/png" }), "dot.png");
    form.append("caption", "here it is");
    const response = await upload(e.token, conversation.id, form);
    assert.equal(response.status, 201, await response.clone().text());
    const sent = (await response.json()).data;
    assert.equal(sent.conversation_id, conversation.id);
    const [message] = (await api(e.token, `/conversations/${conversation.id}/messages`)).json().data;
    assert.equal(message.type, "image");
    assert.equal(message.image.caption, "here it is");
    assert.ok(message.kapso.media_url, "a signed URL to the uploaded media");
    assert.equal((await fetch(message.kapso.media_url.replace("http://parley.test", t.baseUrl))).status, 200);
    const [send] = await sandboxSends("15550810000");
    assert.equal(send!.type, "image");
    assert.equal((send!.body.image as { id: string }).id, (message.image as { id: string }).id);

    const pdf = new FormData();
    pdf.append("file", new Blob(["%PDF-1.4 test"], { type: "application/octet-stream" }), "invoice.pdf");
    const document = await upload(e.token, conversation.id, pdf);
    assert.equal(document.status, 201, await document.clone().text());
    const [doc] = (await api(e.token, `/conversations/${conversation.id}/messages`)).json().data;
    assert.deepEqual([doc.type, doc.document.filename], ["document", "invoice.pdf"]);
  });

  it("refuses files WhatsApp does not take, a missing file, and conversations outside the scope", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: composerNumber.phone_number_id });
    const conversation = await conversationOf(e.token, "15550810000");
    const exe = new FormData();
    exe.append("file", new Blob(["MZ"], { type: "application/x-msdownload" }), "setup.exe");
    const refused = await upload(e.token, conversation.id, exe);
    assert.equal(refused.status, 422);
    assert.match((await refused.json()).error, /^file has type application\/x-msdownload/);
    const empty = new FormData();
    empty.append("caption", "no file");
    const missing = await upload(e.token, conversation.id, empty);
    assert.equal(missing.status, 422);
    assert.equal((await missing.json()).error, "file is required");
    const json = await api(e.token, `/conversations/${conversation.id}/media`, {
      method: "POST",
      payload: {},
    });
    assert.equal(json.statusCode, 422);
    const other = await embed(a, { scope_type: "phone_number", scope_id: numberTwo.phone_number_id });
    const png = new FormData();
    png.append("file", new Blob([new Uint8Array(PNG)], { type: "image/png" }), "dot.png");
    assert.equal((await upload(other.token, conversation.id, png)).status, 404);
  });

  it("lists the approved templates of the number's WABA with their parameters", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: composerNumber.phone_number_id });
    const conversation = await conversationOf(e.token, "15550820000");
    const response = await api(e.token, `/conversations/${conversation.id}/templates`);
    assert.equal(response.statusCode, 200, response.body);
    const byName = new Map(response.json().data.map((tpl: { name: string }) => [tpl.name, tpl] as const));
    assert.deepEqual(byName.get("seasonal_promotion"), {
      name: "seasonal_promotion",
      language: "en_US",
      category: "MARKETING",
      header_format: "TEXT",
      header: "Our seasonal sale is on!",
      body: "Shop now through {{1}} and use code {{2}} to get an exclusive discount.",
      header_parameters: 0,
      body_parameters: 2,
    });
    assert.ok(byName.has("order_update") && byName.has("hello_world"));
  });

  it("sends a template with an image or document header from a file, uploaded to the number's media first", async () => {
    const target = graphTargetFor(t.ctx, composerNumber);
    for (const [name, format] of [
      ["receipt_photo", "IMAGE"],
      ["receipt_pdf", "DOCUMENT"],
    ]) {
      await t.ctx.graph.request(target, {
        method: "POST",
        path: `/${composerNumber.business_account_id}/message_templates`,
        json: {
          name,
          language: "en_US",
          category: "utility",
          components: [
            { type: "HEADER", format },
            { type: "BODY", text: "Here is your receipt for order {{1}}." },
          ],
        },
      });
    }
    const e = await embed(a, { scope_type: "phone_number", scope_id: composerNumber.phone_number_id });
    const old = await conversationOf(e.token, "15550820000");
    const listed = (await api(e.token, `/conversations/${old.id}/templates`)).json().data as {
      name: string;
      header_format: string | null;
      header_parameters: number;
      body_parameters: number;
    }[];
    const photo = listed.find((tpl) => tpl.name === "receipt_photo")!;
    assert.deepEqual([photo.header_format, photo.header_parameters, photo.body_parameters], ["IMAGE", 0, 1]);

    const templateForm = (name: string, file?: [Blob, string]) => {
      const form = new FormData();
      form.append("name", name);
      form.append("language", "en_US");
      form.append("body_parameters", "#77");
      if (file) form.append("file", ...file);
      return fetch(`${t.baseUrl}/embed/api/conversations/${old.id}/template`, {
        method: "POST",
        headers: { authorization: `Bearer ${e.token}` },
        body: form,
      });
    };
    const sent = await templateForm("receipt_photo", [
      new Blob([new Uint8Array(PNG)], { type: "image/png" }),
      "r.png",
    ]);
    assert.equal(sent.status, 201, await sent.clone().text());
    const [send] = (await sandboxSends("15550820000")).filter((s) => s.type === "template");
    const { components } = send!.body.template as { components: { type: string; parameters: unknown[] }[] };
    const [header] = components[0]!.parameters as { type: string; image: { id: string } }[];
    assert.equal(header!.type, "image");
    assert.match(header!.image.id, /\S/, "the uploaded media's id");
    assert.deepEqual(components[1], { type: "body", parameters: [{ type: "text", text: "#77" }] });

    const pdf = await templateForm("receipt_pdf", [
      new Blob(["%PDF-1.4 receipt"], { type: "application/pdf" }),
      "r.pdf",
    ]);
    assert.equal(pdf.status, 201, await pdf.clone().text());
    const [pdfSend] = (await sandboxSends("15550820000")).filter((s) => s.type === "template");
    const pdfHeader = (pdfSend!.body.template as { components: { parameters: Record<string, unknown>[] }[] })
      .components[0]!.parameters[0]!;
    assert.equal(pdfHeader.type, "document");
    assert.equal((pdfHeader.document as { filename: string }).filename, "r.pdf");

    const noFile = await templateForm("receipt_photo");
    assert.equal(noFile.status, 422);
    assert.match((await noFile.json()).error, /file/);
    const unnamed = new FormData();
    unnamed.append("language", "en_US");
    const missingName = await fetch(`${t.baseUrl}/embed/api/conversations/${old.id}/template`, {
      method: "POST",
      headers: { authorization: `Bearer ${e.token}` },
      body: unnamed,
    });
    assert.equal(missingName.status, 422);
    assert.match((await missingName.json()).error, /name/);
  });

  it("sends only templates outside the 24-hour window, and a template reopens an ended conversation", async () => {
    const e = await embed(a, { scope_type: "phone_number", scope_id: composerNumber.phone_number_id });
    const old = await conversationOf(e.token, "15550820000");
    assert.ok(Date.parse(old.service_window_expires_at!) < Date.now(), "the window has closed");
    const text = await api(e.token, `/conversations/${old.id}/messages`, {
      method: "POST",
      payload: { text: "hello?" },
    });
    assert.equal(text.statusCode, 422);
    assert.match(text.json().error, /24 hours/);

    const wrong = await api(e.token, `/conversations/${old.id}/template`, {
      method: "POST",
      payload: { name: "order_update", language: "en_US" },
    });
    assert.equal(wrong.statusCode, 422, "Meta's parameter count check");
    const sent = await api(e.token, `/conversations/${old.id}/template`, {
      method: "POST",
      payload: { name: "order_update", language: "en_US", body_parameters: ["#42"] },
    });
    assert.equal(sent.statusCode, 201, sent.body);
    assert.equal(sent.json().data.conversation_id, old.id);
    const send = (await sandboxSends("15550820000")).find((s) => s.type === "template")!;
    assert.deepEqual(send.body.template, {
      name: "order_update",
      language: { code: "en_US" },
      components: [{ type: "body", parameters: [{ type: "text", text: "#42" }] }],
    });

    await api(e.token, `/conversations/${old.id}`, { method: "PATCH", payload: { status: "ended" } });
    const again = await api(e.token, `/conversations/${old.id}/template`, {
      method: "POST",
      payload: { name: "hello_world", language: "en_US" },
    });
    assert.equal(again.statusCode, 201, again.body);
    const opened = again.json().data.conversation_id;
    assert.notEqual(opened, old.id, "a new conversation");
    assert.equal((await api(e.token, `/conversations/${opened}`)).json().data.status, "active");
    const bad = await api(e.token, `/conversations/${old.id}/template`, {
      method: "POST",
      payload: { name: "hello_world" },
    });
    assert.equal(bad.statusCode, 422);
    assert.match(bad.json().error, /language/);
  });
});
