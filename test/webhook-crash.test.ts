import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import { type ServerProject, startServerProject } from "./support/server-project.ts";
import { type ReceivedWebhook, startWebhookSink, type WebhookSink } from "./support/webhook-sink.ts";

// A Parley server process delivering webhooks to a real local receiver is killed with SIGKILL
// in the middle of a stream of inbound messages, then started again on the same database.
// Every message the receiver (Parley) stored must reach the webhook receiver at least once,
// each as one logical delivery (one X-Idempotency-Key); a key may arrive twice only when its
// first arrival was before the crash (the process died before it could record the success).

const CONTACTS = 20;
const PER_CONTACT = 12;
const SECRET = "crash-secret";

// Webhook bodies are free-form JSON, read field by field.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

let p: ServerProject;
let sink: WebhookSink;

before(async () => {
  sink = await startWebhookSink();
  p = await startServerProject({ PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1" });
});
after(async () => {
  await p.close();
  await sink.close();
});

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve(probe()).catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** One Meta text message with a fixed wamid, so that sending it again is a Meta-style retry. */
function inbound(contact: number, n: number) {
  const from = `1555030${String(contact).padStart(4, "0")}`;
  return {
    wamid: `wamid.CRASH${contact}x${n}`,
    body: {
      phone_number_id: p.phoneNumberId,
      from,
      message: {
        id: `wamid.CRASH${contact}x${n}`,
        type: "text",
        text: { body: `message ${n} from ${from}` },
      },
    },
  };
}

/** Posts one simulated inbound message; true when Parley acknowledged it (it is stored). */
async function post(body: unknown): Promise<boolean> {
  try {
    const response = await fetch(`${p.server.url}/sandbox/inbound`, {
      method: "POST",
      headers: { "x-api-key": p.apiKey, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

const received = (r: ReceivedWebhook) => r.headers["x-webhook-event"] === "whatsapp.message.received";
const keyOf = (r: ReceivedWebhook) => String(r.headers["x-idempotency-key"]);

it("delivers every event at least once, one idempotency key each, across a SIGKILL", {
  timeout: 600_000,
}, async () => {
  const hook = await p.api<{ data: { id: string } }>(
    "POST",
    `/whatsapp/phone_numbers/${p.phoneNumberId}/webhooks`,
    {
      whatsapp_webhook: {
        url: sink.url,
        secret_key: SECRET,
        events: ["whatsapp.message.received", "whatsapp.conversation.created"],
      },
    },
  );
  assert.equal(hook.status, 201, JSON.stringify(hook.body));

  // Each contact sends its messages in order, all contacts at once; the receiver answers a
  // little slowly, so that deliveries are in flight when the process dies.
  sink.delayMs = 50;
  const messages = Array.from({ length: CONTACTS }, (_, c) =>
    Array.from({ length: PER_CONTACT }, (_, n) => inbound(c, n)),
  );
  const acknowledged = new Set<string>();
  let crashed = false;
  const stream = Promise.all(
    messages.map(async (own) => {
      for (const m of own) {
        if (crashed) return;
        if (await post(m.body)) acknowledged.add(m.wamid);
      }
    }),
  );

  await sink.waitFor((r) => r.length >= (CONTACTS * PER_CONTACT) / 4, 120_000);
  crashed = true;
  await p.server.kill();
  const killedAt = Date.now();
  await stream;
  const total = CONTACTS * PER_CONTACT;
  assert.ok(acknowledged.size < total, "the crash came in the middle of the stream");

  await p.restart();
  // Meta retries what it did not see acknowledged; replays of stored messages change nothing.
  for (const own of messages) {
    for (const m of own) {
      if (acknowledged.has(m.wamid)) continue;
      await until(`message ${m.wamid} acknowledged`, () => post(m.body), 60_000);
      acknowledged.add(m.wamid);
    }
  }

  // Every stored message's event arrives (deliveries leased by the dead process come back
  // after their 30-second lease).
  const wamidOf = (r: ReceivedWebhook) => (r.body as Json)?.message?.id as string | undefined;
  await until(
    "every message's webhook",
    () => {
      const seen = new Set(sink.received.filter(received).map(wamidOf));
      return [...acknowledged].every((w) => seen.has(w));
    },
    180_000,
  );
  await until(
    "no delivery left pending",
    async () => {
      const pending = await p.api<{ data: unknown[] }>(
        "GET",
        `/webhook_deliveries?status=pending&webhook_id=${hook.body.data.id}`,
      );
      return pending.status === 200 && pending.body.data.length === 0;
    },
    180_000,
  );

  // Every arrival is signed; one idempotency key per event.
  for (const r of sink.received) {
    assert.equal(r.headers["x-webhook-signature"], signWebhookBody(SECRET, r.raw));
  }
  const keysByWamid = new Map<string, Set<string>>();
  for (const r of sink.received.filter(received)) {
    const wamid = wamidOf(r)!;
    keysByWamid.set(wamid, (keysByWamid.get(wamid) ?? new Set()).add(keyOf(r)));
  }
  assert.equal(keysByWamid.size, total, "every message delivered");
  for (const [wamid, keys] of keysByWamid) assert.equal(keys.size, 1, `${wamid}: one logical delivery`);
  const conversations = new Map<string, Set<string>>();
  for (const r of sink.received.filter(
    (x) => x.headers["x-webhook-event"] === "whatsapp.conversation.created",
  )) {
    const id = (r.body as Json).conversation.id as string;
    conversations.set(id, (conversations.get(id) ?? new Set()).add(keyOf(r)));
  }
  assert.equal(conversations.size, CONTACTS, "one conversation.created per contact");
  for (const keys of conversations.values()) assert.equal(keys.size, 1);

  // A key arrives more than once only when the dead process had already sent it.
  const arrivals = new Map<string, ReceivedWebhook[]>();
  for (const r of sink.received) arrivals.set(keyOf(r), [...(arrivals.get(keyOf(r)) ?? []), r]);
  const duplicated = [...arrivals.values()].filter((list) => list.length > 1);
  for (const list of duplicated) {
    assert.equal(list.length, 2, "at most one repeat, the one the crash caused");
    assert.ok(list[0]!.at <= killedAt, "the first arrival came before the crash");
    assert.equal(list[0]!.raw, list[1]!.raw, "a repeat carries the same body");
  }

  // The delivery log agrees: one delivered record per key the receiver saw.
  const logged = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await p.api<{ data: { id: string; status: string }[]; paging: { next: string | null } }>(
      "GET",
      `/webhook_deliveries?limit=100&webhook_id=${hook.body.data.id}${cursor ? `&after=${cursor}` : ""}`,
    );
    for (const d of page.body.data) {
      assert.equal(d.status, "delivered");
      logged.add(d.id);
    }
    cursor = page.body.paging.next ? encodeURIComponent(page.body.paging.next) : undefined;
  } while (cursor);
  assert.deepEqual([...logged].sort(), [...arrivals.keys()].sort());
});
