import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentEventName, outgoing, type WhatsappConfig } from "./payload.ts";

const config: WhatsappConfig = {
  id: "0b6c6f0e-2f52-4b8e-9a59-6d7d4a1f6f10",
  phone_number_id: "123456789012345",
};
const conversation = {
  id: "c1",
  phone_number: "15550001111",
  status: "active",
  phone_number_id: config.phone_number_id,
  kapso: { contact_name: "Ana" },
};
const message = {
  id: "wamid.A",
  timestamp: "1700000000",
  type: "image",
  image: { id: "m1", caption: "look" },
  kapso: {
    direction: "inbound",
    status: "received",
    origin: "cloud_api",
    has_media: true,
    content: "look",
    media_url: "https://parley.example/media/x",
  },
};
const v2 = { message, conversation, is_new_conversation: false, phone_number_id: config.phone_number_id };

const send = (event: string, payload: unknown, version: string) =>
  outgoing({ event, payload, body: null, kind: "kapso", payload_version: version, whatsapp_config: config });

describe("webhook payload versions", () => {
  it("sends v2 payloads unchanged, and Meta's bytes as they came", () => {
    assert.deepEqual(send("whatsapp.message.received", v2, "v2"), {
      event: "whatsapp.message.received",
      body: JSON.stringify(v2),
    });
    const raw = '{"object": "whatsapp_business_account"}';
    assert.deepEqual(
      outgoing({
        event: "meta.messages",
        payload: null,
        body: raw,
        kind: "meta",
        payload_version: "v2",
        whatsapp_config: null,
      }),
      { event: "meta.messages", body: raw },
    );
  });

  it("converts a batch item by item, dropping the batch's kapso.phone_number(_id)", () => {
    const item = {
      ...v2,
      message: { ...message, kapso: { ...message.kapso, phone_number: "15550001111", phone_number_id: "1" } },
    };
    const batch = { type: "whatsapp.message.received", batch: true, data: [item], batch_info: { size: 1 } };
    const sent = send("whatsapp.message.received", batch, "v1");
    const body = JSON.parse(sent.body);
    assert.equal(body.batch, true);
    assert.deepEqual(body.batch_info, { size: 1 });
    assert.deepEqual(body.data[0].message, {
      id: "wamid.A",
      timestamp: "1700000000",
      message_type: "image",
      direction: "inbound",
      status: "received",
      origin: "cloud_api",
      has_media: true,
      content: "look",
      media_url: "https://parley.example/media/x",
      message_type_data: { id: "m1", caption: "look" },
      conversation_phone_number: "15550001111",
      contact_name: "Ana",
    });
    assert.equal(body.data[0].whatsapp_config_id, config.id);
    assert.deepEqual(body.data[0].whatsapp_config, config);
    assert.equal(body.data[0].conversation.whatsapp_config_id, config.id);
    assert.equal(body.data[0].phone_number_id, undefined);
  });

  it("names number lifecycle events and test payloads the legacy way", () => {
    const lifecycle = { phone_number_id: config.phone_number_id, project: { id: "p" }, customer: null };
    const sent = send("whatsapp.phone_number.deleted", lifecycle, "v1");
    assert.equal(sent.event, "whatsapp.config.deleted");
    assert.deepEqual(JSON.parse(sent.body), {
      project: { id: "p" },
      customer: null,
      whatsapp_config_id: config.id,
      whatsapp_config: config,
    });
    const test = { test: true, event: "whatsapp.phone_number.created", phone_number_id: null };
    assert.equal(
      JSON.parse(send("whatsapp.phone_number.created", test, "v1").body).event,
      "whatsapp.config.created",
    );
    assert.equal(currentEventName("whatsapp.config.created"), "whatsapp.phone_number.created");
    assert.equal(currentEventName("whatsapp.message.sent"), "whatsapp.message.sent");
  });
});
