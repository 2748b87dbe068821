import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { MAX_IN_FLIGHT } from "../src/modules/broadcasts/runner.ts";
import { type ServerProject, startServerProject } from "./support/server-project.ts";

// A server killed with SIGKILL in the middle of a broadcast, then started again on the same
// database: the broadcast finishes, no recipient reached the sandbox twice, every one that
// reached it is sent and the rest (sends cut off by the kill) failed as send_outcome_unknown;
// a broadcast scheduled before the crash starts after it.

type Json = Record<string, unknown>;

let p: ServerProject;

before(async () => {
  p = await startServerProject({
    PARLEY_SEND_RATE_PER_SECOND: "100",
    PARLEY_SANDBOX_STATUS_DELAY_MS: "20",
    // A loaded machine can take long to answer a send: only the kill should cut one off.
    META_GRAPH_TIMEOUT_SECONDS: "60",
    // Longer than that timeout, so a zombie call has ended by then.
    PARLEY_BROADCAST_UNCERTAIN_SECONDS: "90",
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

async function listRecipients(id: string): Promise<Json[]> {
  const all: Json[] = [];
  for (let page = 1; ; page++) {
    const list = await p.api<{ data: Json[]; meta: { total_pages: number } }>(
      "GET",
      `/whatsapp/broadcasts/${id}/recipients?per_page=100&page=${page}`,
    );
    all.push(...list.body.data);
    if (page >= list.body.meta.total_pages) return all;
  }
}

const phones = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, "0")}`);

describe("a broadcast across a crash", () => {
  it("finishes after SIGKILL and restart with every recipient sent exactly once", async () => {
    // Smaller on embedded PGlite, where the server, its database and the sandbox share one thread.
    const total = p.env.DATABASE_URL ? 1000 : 200;
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
      300_000,
    );
    await p.server.kill();
    const before = await p.restart().then(() => broadcast(id));
    assert.ok((before.pending_count as number) > 0, "the crash left recipients to send");

    await until(
      "the broadcast to complete after the restart",
      async () => ((await broadcast(id)).status === "completed" ? true : undefined),
      300_000,
    );
    // At most once: a send cut off by the kill that Meta never got is not sent again; it fails
    // as send_outcome_unknown. One Meta did get turns sent when its status arrives.
    const settled = await until(
      "every recipient the sandbox got to be sent",
      async () => {
        const counts = await sandboxCounts("15554");
        const all = await listRecipients(id);
        const wrong = all.filter((r) =>
          counts.has(r.phone_number as string) ? r.status !== "sent" : r.status !== "failed",
        );
        return wrong.length === 0 ? { counts, all } : undefined;
      },
      180_000,
    );
    const twice = [...settled.counts].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], "no recipient was sent twice");
    const unknown = settled.all.filter((r) => r.status === "failed");
    assert.ok(
      unknown.every((r) => (r.error_details as { code?: string }).code === "send_outcome_unknown"),
      JSON.stringify(unknown.slice(0, 3)),
    );
    // Only the sends in flight at the kill can be cut off.
    const inFlight = MAX_IN_FLIGHT[p.env.DATABASE_URL ? "postgres" : "pglite"];
    assert.ok(unknown.length <= inFlight, `${unknown.length} sends cut off`);
    const done = await broadcast(id);
    assert.equal(done.sent_count, settled.counts.size);
    assert.equal((done.sent_count as number) + (done.failed_count as number), total);
    assert.equal(done.pending_count, 0);

    // Started after the restart, it is sent in full (a send that timed out on a loaded machine
    // turns sent when its status arrives).
    const resumed = await until(
      "the scheduled broadcast to complete with every recipient sent",
      async () => {
        const b = await broadcast(later);
        return b.status === "completed" && b.sent_count === 20 ? b : undefined;
      },
      180_000,
    );
    assert.ok(Date.parse(resumed.started_at as string) >= Date.parse(scheduledAt));
    const scheduledCounts = await sandboxCounts("15557");
    assert.equal(scheduledCounts.size, 20);
    assert.ok([...scheduledCounts.values()].every((n) => n === 1));
  });
});
