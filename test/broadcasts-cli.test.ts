import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parley, tempDir } from "./support/process.ts";
import { type ServerProject, startServerProject } from "./support/server-project.ts";

// A newcomer's broadcast: the CLI creates it from a file of numbers with a sandbox template,
// sends it and shows the progress bar until `completed`, all through the Platform API.

let p: ServerProject;
let cliEnv: Record<string, string>;
/** The broadcast the first test sends (the copy test copies it). */
let sentBroadcastId: string | undefined;

before(async () => {
  p = await startServerProject({
    PARLEY_SEND_RATE_PER_SECOND: "100",
    PARLEY_SANDBOX_STATUS_DELAY_MS: "20",
    PARLEY_BROADCAST_UNCERTAIN_SECONDS: "20",
  });
  cliEnv = { PARLEY_URL: p.server.url, PARLEY_API_KEY: p.apiKey };
});
after(() => p.close());

describe("parley broadcasts", () => {
  it("sends a broadcast from a file and watches it to completed", async () => {
    const file = path.join(tempDir(), "recipients.csv");
    const lines = ["# phone,order number"];
    for (let i = 0; i < 40; i++) lines.push(`+1 555 300 ${String(i).padStart(4, "0")},#${i}`);
    lines.push("not-a-number,#x", "+1 555 300 0000,#dup");
    fs.writeFileSync(file, `${lines.join("\n")}\n`);

    const result = await parley(
      [
        "broadcasts",
        "send",
        "--phone-number-id",
        p.phoneNumberId,
        "--template",
        "order_update",
        "--recipients",
        file,
        "--name",
        "Order updates",
        "--interval",
        "200",
      ],
      cliEnv,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /40 recipients added, 1 duplicates, 1 refused/);
    assert.match(result.stderr, /Recipient 41: invalid phone number format/);
    assert.match(result.stderr, /sent \d+ failed \d+ delivered \d+ read \d+ \| [\d.]+ msg\/s \| ETA/);
    const summary = /Broadcast (\S+) completed: 40 sent, 0 failed, 0 suppressed, 0 pending/.exec(
      result.stdout,
    );
    assert.ok(summary, result.stdout);

    const watched = await parley(["broadcasts", "watch", summary[1]!, "--json"], cliEnv);
    assert.equal(watched.code, 0, watched.stderr);
    const final = JSON.parse(watched.stdout);
    assert.equal(final.status, "completed");
    assert.equal(final.name, "Order updates");
    assert.equal(final.sent_count, 40);
    sentBroadcastId = summary[1]!;
  });

  it("copies a sent broadcast and sends the copy to completed", async () => {
    assert.ok(sentBroadcastId, "the broadcast of the first test");
    const copied = await parley(
      ["broadcasts", "copy", sentBroadcastId, "--name", "Order updates again", "--send", "--interval", "200"],
      cliEnv,
    );
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stderr, /\(Order updates again\): 40 recipients copied/);
    const summary = /Broadcast (\S+) completed: 40 sent, 0 failed, 0 suppressed, 0 pending/.exec(
      copied.stdout,
    );
    assert.ok(summary, copied.stdout);
    assert.notEqual(summary[1], sentBroadcastId);

    const draft = await parley(["broadcasts", "copy", summary[1]!, "--json"], cliEnv);
    assert.equal(draft.code, 0, draft.stderr);
    const copy = JSON.parse(draft.stdout);
    assert.equal(copy.status, "draft");
    assert.equal(copy.name, "Order updates again (copy)");
    assert.equal(copy.total_recipients, 40);
    assert.equal(copy.pending_count, 40);
  });

  it("schedules without watching, and explains what is missing", async () => {
    const file = path.join(tempDir(), "one.txt");
    fs.writeFileSync(file, "15553009999,#1\n");
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await parley(
      [
        "broadcasts",
        "send",
        "--phone-number-id",
        p.phoneNumberId,
        "--template",
        "order_update",
        "--recipients",
        file,
        "--schedule",
        at,
        "--no-watch",
      ],
      cliEnv,
    );
    assert.equal(scheduled.code, 0, scheduled.stderr);
    assert.match(scheduled.stdout, /Broadcast \S+ scheduled/);

    const noKey = await parley(["broadcasts", "watch", "x"], {
      PARLEY_URL: p.server.url,
      PARLEY_API_KEY: "",
    });
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /an API key is needed: --api-key or PARLEY_API_KEY/);
    const unknown = await parley(["broadcasts", "watch", "00000000-0000-4000-8000-000000000000"], cliEnv);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404 Broadcast not found/);
    const noTemplate = await parley(
      [
        "broadcasts",
        "send",
        "--phone-number-id",
        p.phoneNumberId,
        "--template",
        "nope",
        "--recipients",
        file,
      ],
      cliEnv,
    );
    assert.equal(noTemplate.code, 1);
    assert.match(noTemplate.stderr, /no template named nope/);
  });
});
