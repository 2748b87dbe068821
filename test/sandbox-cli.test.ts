import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parley, type ServerProcess, startServer, tempDir } from "./support/process.ts";
import { startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// A newcomer's first minutes: an empty embedded install gets a project, a key and a sandbox
// number, and `parley sandbox inbound` turns a line of text into a signed Meta webhook.

let server: ServerProcess;
let sink: WebhookSink;
let env: Record<string, string>;

before(async () => {
  sink = await startWebhookSink();
  env = { PARLEY_DATA_DIR: tempDir(), PARLEY_SANDBOX_WEBHOOK_URL: sink.url };
  server = await startServer(env);
});
after(async () => {
  await server.stop();
  await sink.close();
});

describe("first start of an embedded install", () => {
  it("creates a sandbox number and simulates inbound messages to it from the CLI", async () => {
    const match = /sandbox WhatsApp number \+1 555-\d{3}-\d{4} \(phone_number_id (\d+)\)/.exec(
      server.output(),
    );
    assert.ok(match, server.output());
    const phoneNumberId = match[1]!;

    const result = await parley(
      ["sandbox", "inbound", "--from", "15551234567", "--text", "hi", "--json"],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    const { wamid, phone_number_id } = JSON.parse(result.stdout);
    assert.equal(phone_number_id, phoneNumberId);
    const delivery = sink.received.find((r) => r.raw.includes(wamid));
    assert.ok(delivery);
    const value = (delivery.body as { entry: { changes: { value: Record<string, unknown> }[] }[] }).entry[0]!
      .changes[0]!.value;
    assert.deepEqual((value.metadata as { phone_number_id: string }).phone_number_id, phoneNumberId);
    assert.deepEqual((value.messages as { text: unknown }[])[0]!.text, { body: "hi" });
    assert.match(String(delivery.headers["x-hub-signature-256"]), /^sha256=[0-9a-f]{64}$/);

    const unknown = await parley(
      ["sandbox", "inbound", "--from", "1555", "--text", "x", "--phone-number-id", "42"],
      env,
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Phone number 42 not found/);
  });
});
