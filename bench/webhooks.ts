// Outgoing webhook benchmark, on a real server process on PostgreSQL with a fast local receiver
// (127.0.0.1, allowed by PARLEY_OUTBOUND_ALLOWLIST) registered through the API for
// whatsapp.message.received. The receiver checks every X-Webhook-Signature and answers 200 at
// once.
//
// 1. Deliveries per second: the receiver fails its first delivery, which pauses the webhook
//    (PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES=1, …_HOURS=0: a receiver outage); a backlog of inbound
//    messages is then ingested and held; resuming the webhook (PATCH active: true) releases it
//    all at once, and the time until the receiver has every delivery gives the rate.
// 2. End-to-end delay: signed inbound webhooks posted at increasing rates (open loop); the delay
//    runs from an inbound webhook's scheduled post to its whatsapp.message.received arriving.
//    The first `--warmup` seconds run at the first rate and are reported as their own row
//    (`warmup: true`), apart from the measured steps.
//
//   node bench/webhooks.ts [--backlog 5000] [--rates 100,250,500,1000] [--seconds 10] [--warmup 3]
//
// A database is created on TEST_DATABASE_URL's server (default
// postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { signWebhookBody } from "../src/webhooks/dispatcher.ts";
import {
  analyzeDatabase,
  contact,
  cpuMeter,
  HttpClient,
  inboundTextWebhook,
  machine,
  messageText,
  numberDetails,
  numberList,
  openLoop,
  percentile,
  rateSteps,
  round,
  sampleRss,
  startBenchServer,
  waitUntil,
  wamid,
} from "./support.ts";

const { values: args } = parseArgs({
  options: {
    backlog: { type: "string", default: "5000" },
    rates: { type: "string", default: "100,250,500,1000" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
  },
});
const backlog = Number(args.backlog);
const rates = numberList(args.rates, "--rates");
const stepSeconds = Number(args.seconds);
const warmupSeconds = Number(args.warmup);
const SECRET = "bench-webhook-secret";

/** Every delivery the receiver got: idempotency key, the message's wamid, arrival time. */
const received = new Map<string, { wamid: string; at: number; times: number }>();
let badSignatures = 0;
let failNext = true;
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const at = performance.now();
    if (failNext) {
      failNext = false;
      res.writeHead(503).end();
      return;
    }
    const body = Buffer.concat(chunks).toString("utf8");
    if (req.headers["x-webhook-signature"] !== signWebhookBody(SECRET, body)) badSignatures++;
    const key = String(req.headers["x-idempotency-key"]);
    const seen = received.get(key);
    if (seen) seen.times++;
    else {
      const payload = JSON.parse(body) as { message?: { id?: string } };
      received.set(key, { wamid: payload.message?.id ?? "", at, times: 1 });
    }
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

const p = await startBenchServer("postgres", {
  PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1",
  PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES: "1",
  PARLEY_WEBHOOK_PAUSE_AFTER_HOURS: "0",
});
const client = new HttpClient(p.server.url, 256);
const number = await numberDetails(p);
const created = await p.api<{ data: { id: string } }>(
  "POST",
  `/whatsapp/phone_numbers/${p.phoneNumberId}/webhooks`,
  {
    whatsapp_webhook: { url: receiverUrl, events: ["whatsapp.message.received"], secret_key: SECRET },
  },
);
if (created.status !== 201) throw new Error(`webhook: ${JSON.stringify(created.body)}`);
const webhookId = created.body.data.id;

let posted = 0;
/** Posts inbound message `n` (contact n mod `contacts`); remembers its wamid. */
const wamids: string[] = [];
async function postInbound(n: number, contacts: number): Promise<boolean> {
  wamids[n] ??= wamid("WHK", n);
  const { body, signature } = inboundTextWebhook(number, {
    ...contact("1222", n % contacts),
    wamid: wamids[n]!,
    text: messageText(n),
  });
  const res = await client.request("POST", "/webhooks/whatsapp", body, { "x-hub-signature-256": signature });
  return res.status === 200;
}

// 1. The backlog. The first message's delivery fails and pauses the webhook.
await postInbound(posted++, 1);
const paused = await waitUntil(async () => {
  const webhook = await p.api<{ data: { active: boolean } }>("GET", `/whatsapp/webhooks/${webhookId}`);
  return !webhook.body.data.active;
}, 60_000);
if (paused === null) throw new Error("the webhook was not paused by its failed delivery");
const backlogContacts = Math.max(1, Math.round(backlog / 2.5));
for (let i = 0; i < backlog; i += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, backlog - i) }, async () => {
      if (!(await postInbound(posted++, backlogContacts))) throw new Error("inbound webhook refused");
    }),
  );
}
const held = posted;
const rss = sampleRss(p.server.child.pid!);
const drainCpu = await cpuMeter(p, "postgres");
const resumedAt = performance.now();
await p.api("PATCH", `/whatsapp/webhooks/${webhookId}`, { whatsapp_webhook: { active: true } });
const drained = await waitUntil(async () => received.size >= held, 600_000);
const arrivals = [...received.values()].map((r) => r.at - resumedAt);
const drainSeconds = percentile(arrivals, 100) / 1000;
const drainUsed = await drainCpu.stop();
const drain = {
  held_deliveries: held,
  delivered: received.size,
  drained: drained !== null,
  seconds: round(drainSeconds, 2),
  deliveries_per_s: Math.round(received.size / drainSeconds),
  bad_signatures: badSignatures,
  repeated: [...received.values()].filter((r) => r.times > 1).length,
  server_cpu_ms_per_delivery: round((drainUsed.server_cpu_s * 1000) / received.size, 2),
  db_cpu_ms_per_delivery: round((drainUsed.database_cpu_s * 1000) / received.size, 2),
  ...rss.stop(),
  ...machine(),
};
console.log(JSON.stringify(drain));

// 2. End-to-end delay at increasing inbound rates, each message its own contact's next message.
const steps = [];
for (const { rate, seconds, warmup } of rateSteps(rates, stepSeconds, warmupSeconds)) {
  const first = posted;
  const stepRss = sampleRss(p.server.child.pid!);
  const cpu = await cpuMeter(p, "postgres");
  const scheduled = new Map<string, number>();
  const start = performance.now();
  const ingest = await openLoop(
    rate,
    seconds,
    (i) => {
      wamids[i] = wamid("WHK", i);
      scheduled.set(wamids[i]!, start + ((i - first) / rate) * 1000);
      return postInbound(i, 2000);
    },
    first,
  );
  posted += ingest.sent;
  const complete = await waitUntil(async () => received.size >= posted, 300_000);
  const used = await cpu.stop();
  const delays = [...received.values()]
    .filter((r) => scheduled.has(r.wamid))
    .map((r) => r.at - scheduled.get(r.wamid)!);
  steps.push({
    ...(warmup ? { warmup } : {}),
    inbound_per_s: rate,
    ingested_per_s: ingest.achieved_per_s,
    inbound_p99_ms: ingest.p99_ms,
    delivered: delays.length,
    all_delivered: complete !== null,
    delay_p50_ms: round(percentile(delays, 50)),
    delay_p99_ms: round(percentile(delays, 99)),
    delay_max_ms: round(percentile(delays, 100)),
    // Ingest and delivery of one message together.
    server_cpu_ms_per_msg: round((used.server_cpu_s * 1000) / ingest.ok, 2),
    db_cpu_ms_per_msg: round((used.database_cpu_s * 1000) / ingest.ok, 2),
    ...stepRss.stop(),
    ...machine(),
  });
  console.log(JSON.stringify(steps.at(-1)));
  if (warmup) await analyzeDatabase(p, "postgres");
  if (!warmup && ingest.achieved_per_s < 0.8 * rate) break;
}

client.close();
await p.close();
receiver.close();
console.table([drain]);
console.table(steps);
console.log(JSON.stringify({ drain, steps, bad_signatures: badSignatures }));
