import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateSendBody } from "./message-validation.ts";
import { MetaApiError } from "./meta-errors.ts";

const base = { messaging_product: "whatsapp", to: "+1 555 010 2000" };

function refused(body: unknown, code: number, pattern: RegExp) {
  try {
    validateSendBody(body);
  } catch (err) {
    assert.ok(err instanceof MetaApiError);
    assert.equal(err.body.error.code, code, JSON.stringify(body));
    assert.match(JSON.stringify(err.body.error), pattern);
    return;
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

describe("validateSendBody", () => {
  it("accepts every message type Meta accepts, normalizing the recipient", () => {
    const ok: Record<string, unknown>[] = [
      { type: "text", text: { body: "hi", preview_url: true } },
      { type: "image", image: { link: "https://example.com/a.jpg", caption: "a" } },
      { type: "audio", audio: { id: "123" } },
      { type: "document", document: { id: "1", filename: "a.pdf" } },
      { type: "sticker", sticker: { id: "1" } },
      { type: "video", video: { link: "https://example.com/v.mp4" } },
      { type: "location", location: { latitude: "1.5", longitude: 2 } },
      { type: "contacts", contacts: [{ name: { formatted_name: "Bob" } }] },
      { type: "reaction", reaction: { message_id: "wamid.x", emoji: "👍" } },
      {
        type: "interactive",
        interactive: {
          type: "button",
          body: { text: "?" },
          action: { buttons: [{ type: "reply", reply: { id: "y", title: "Yes" } }] },
        },
      },
      {
        type: "interactive",
        interactive: {
          type: "list",
          body: { text: "?" },
          action: { button: "Pick", sections: [{ rows: [] }] },
        },
      },
      {
        type: "interactive",
        interactive: {
          type: "cta_url",
          body: { text: "?" },
          action: { name: "cta_url", parameters: { display_text: "Go", url: "https://x" } },
        },
      },
      {
        type: "interactive",
        interactive: {
          type: "location_request_message",
          body: { text: "Where?" },
          action: { name: "send_location" },
        },
      },
      { type: "template", template: { name: "hello_world", language: { code: "en_US" }, components: [] } },
    ];
    for (const body of ok) assert.equal(validateSendBody({ ...base, ...body }).to, "15550102000");
    assert.deepEqual(
      validateSendBody({ messaging_product: "whatsapp", status: "read", message_id: "wamid.1" }).to,
      "",
    );
  });

  it("refuses what Meta refuses, naming the parameter", () => {
    refused({ to: "1555", type: "text", text: { body: "x" } }, 100, /messaging_product/);
    refused({ messaging_product: "whatsapp", type: "text", text: { body: "x" } }, 131008, /'to'/);
    refused({ ...base, to: "call me" }, 100, /Param to/);
    refused({ ...base, type: "fax", fax: {} }, 100, /Param type/);
    refused({ ...base, type: "text" }, 131008, /'text'/);
    refused({ ...base, type: "text", text: { body: "" } }, 131008, /text\.body/);
    refused({ ...base, type: "text", text: { body: "x".repeat(4097) } }, 100, /4096/);
    refused({ ...base, type: "image", image: {} }, 131008, /image\.id or image\.link/);
    refused({ ...base, type: "image", image: { link: "ftp://x" } }, 100, /image\.link/);
    refused({ ...base, type: "audio", audio: { id: "1", caption: "no" } }, 100, /audio\.caption/);
    refused({ ...base, type: "location", location: { latitude: 1 } }, 131008, /location\.longitude/);
    refused({ ...base, type: "contacts", contacts: [{}] }, 131008, /contacts\[0\]/);
    refused({ ...base, type: "reaction", reaction: { emoji: "x" } }, 131008, /reaction\.message_id/);
    refused({ ...base, type: "interactive", interactive: { type: "poll" } }, 100, /interactive\.type/);
    refused(
      {
        ...base,
        type: "interactive",
        interactive: { type: "button", body: { text: "?" }, action: { buttons: [] } },
      },
      100,
      /1 to 3 buttons/,
    );
    refused({ ...base, type: "template", template: { name: "x" } }, 131008, /template\.language\.code/);
    refused({ ...base, type: "text", text: { body: "x" }, context: {} }, 100, /context\.message_id/);
    refused({ messaging_product: "whatsapp", status: "read" }, 131008, /message_id/);
  });
});
