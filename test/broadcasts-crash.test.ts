import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ServerProject, startServerProject } from "./support/server-project.ts";

// A server killed with SIGKILL in the middle of a broadcast, then started again on the same
// database: the broadcast finishes and every recipient reached the sandbox exactly once; a
// broadcast scheduled before the crash starts after it.

type Json = Record<string, unknown>;

let p: ServerProject;

before(async () => {
  p = await startServerProject({
    PARLEY_SEND_RATE_PER_SECOND: "100",
    PARLEY_SANDBOX_STATUS_DELAY_MS: "20",
    // Longer than the Graph client's 15 s timeout, so a zombie call has ended by then.
    PARLEY_BROADCAST_UNCERTAIN_SECONDS: "30",
  });
});
after(() => p.close());

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const broadcast = async (id: string) =>
  (await p.api<{ data: Json }>("GET", `/whatsapp/broadcasts/${id}`)).body.data;

async function templateId(name: string): Promise<string> {
  const number = await p.api<{ data: { business_account_id: string } }>(
    "GET",
    `/whatsapp/phone_numbers/${p.phoneNumberId}`,
  );
  const response = await fetch(
    `${p.server.url}/meta/whatsapp/v24.0/${number.body.data.business_account_id}/message_templates?name=${name}`,
    { headers: { "x-api-key": p.apiKey } },
  );
  const list = (await response.json()) as { data: { id: string; name: string }[] };
  return list.data.find((t) => t.name === name)!.id;
}

async function createWithRecipients(phones: string[]): Promise<string> {
  const created = await p.api<{ data: { id: string } }>("POST", "/whatsapp/broadcasts", {
    whatsapp_broadcast: {
      name: "Crash",
      phone_number_id: p.phoneNumberId,
      whatsapp_template_id: await templateId("order_update"),
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  for (let i = 0; i < phones.length; i += 1000) {
    const added = await p.api<{ data: { added: number } }>("POST", `/whatsapp/broadcasts/${id}/recipients`, {
      whatsapp_broadcast: {
        recipients: phones.slice(i, i + 1000).map((phone_number) => ({
          phone_number,
          components: [{ type: "body", parameters: [{ type: "text", text: "#1" }] }],
        })),
      },
    });
    assert.equal(added.body.data.added, Math.min(1000, phones.length - i));
  }
  return id;
}

/** How many times the sandbox accepted a message for each recipient starting with `prefix`. */
async function sandboxCounts(prefix: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let page = 1; ; page++) {
    const response = await fetch(
      `${p.server.url}/sandbox/sends?phone_number_id=${p.phoneNumberId}&per_page=100&page=${page}`,
      { headers: { "x-api-key": p.apiKey } },
    );
    const body = (await response.json()) as { data: { recipient: string }[]; meta: { total_pages: number } };
    for (const send of body.data) {
      if (send.recipient.startsWith(prefix))
        counts.set(send.recipient, (counts.get(send.recipient) ?? 0) + 1);
    }
    if (page >= body.meta.total_pages) return counts;
  }
}

const phones = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, "0")}`);

describe("a broadcast across a crash", () => {
  it("finishes after SIGKILL and restart with every recipient sent exactly once", async () => {
    const total = p.env.DATABASE_URL ? 1000 : 400;
    const recipients = phones(total, "15554");
    const id = await createWithRecipients(recipients);
    const later = await createWithRecipients(phones(20, "15557"));
    const scheduledAt = new Date(Date.now() + 15_000).toISOString();
    const scheduled = await p.api<{ data: Json }>("POST", `/whatsapp/broadcasts/${later}/schedule`, {
      scheduled_at: scheduledAt,
    });
    assert.equal(scheduled.status, 202);

    assert.equal((await p.api("POST", `/whatsapp/broadcasts/${id}/send`)).status, 202);
    await until(
      "a third of the broadcast sent",
      async () => ((await broadcast(id)).sent_count as number) >= total / 3 || undefined,
      120_000,
    );
    await p.server.kill();
    const before = await p.restart().then(() => broadcast(id));
    assert.ok((before.pending_count as number) > 0, "the crash left recipients to send");

    const done = await until(
      "the broadcast to complete after the restart",
      async () => {
        const b = await broadcast(id);
        return b.status === "completed" ? b : undefined;
      },
      300_000,
    );
    assert.equal(done.sent_count, total);
    assert.equal(done.failed_count, 0);
    assert.equal(done.pending_count, 0);
    const counts = await sandboxCounts("15554");
    assert.equal(counts.size, total, "every recipient reached the sandbox");
    const twice = [...counts].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], "no recipient was sent twice");

    const resumed = await until(
      "the scheduled broadcast to complete",
      async () => {
        const b = await broadcast(later);
        return b.status === "completed" ? b : undefined;
      },
      120_000,
    );
    assert.ok(Date.parse(resumed.started_at as string) >= Date.parse(scheduledAt));
    assert.equal(resumed.sent_count, 20);
    assert.equal((await sandboxCounts("15557")).size, 20);
  });
});
