// Send benchmark: text messages through the Meta proxy (POST /meta/whatsapp/v24.0/{id}/messages)
// of a real server process on PostgreSQL, to sandbox numbers whose contacts wrote first (the
// 24-hour window), at increasing concurrency. Each send is stored, handed to the built-in
// sandbox over HTTP, and answered; the sandbox then posts the sent, delivered and read status
// webhooks back to the receiver, so that work runs alongside. The per-number rate limit is
// raised to its maximum (1,000/s) and the load is spread over several numbers, so the limiter is
// not what is measured. Afterwards: sends accepted by the sandbox (sandbox_sends) against
// messages stored with a wamid, how long the status webhooks took to catch up, and the CPU time
// one send cost the server and the database, status webhooks included.
//
//   node bench/send.ts [--concurrency 1,4,16,64] [--seconds 10] [--numbers 2] [--contacts 500]
//
// A database is created on TEST_DATABASE_URL's server (default
// postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
import { parseArgs } from "node:util";
import {
  addSandboxNumber,
  analyzeDatabase,
  closedLoop,
  contact,
  cpuMeter,
  HttpClient,
  inboundTextWebhook,
  machine,
  messageText,
  numberDetails,
  numberList,
  round,
  sampleRss,
  startBenchServer,
  waitUntil,
  wamid,
  withDatabase,
} from "./support.ts";

const { values: args } = parseArgs({
  options: {
    concurrency: { type: "string", default: "1,4,16,64" },
    seconds: { type: "string", default: "10" },
    numbers: { type: "string", default: "2" },
    contacts: { type: "string", default: "500" },
  },
});
const levels = numberList(args.concurrency, "--concurrency");
const seconds = Number(args.seconds);
const contactCount = Number(args.contacts);

const p = await startBenchServer("postgres", { PARLEY_SEND_RATE_PER_SECOND: "1000" });
const client = new HttpClient(p.server.url, 256);
const numbers = [p.phoneNumberId];
for (let n = 1; n < Number(args.numbers); n++) numbers.push(await addSandboxNumber(p, `Bench ${n}`));

// Every contact writes to every number first: free-form sends need the 24-hour window.
for (const id of numbers) {
  const details = await numberDetails(p, id);
  for (let i = 0; i < contactCount; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, contactCount - i) }, async (_, j) => {
        const { body, signature } = inboundTextWebhook(details, {
          ...contact("1333", i + j),
          wamid: wamid("SNDIN", i + j),
          text: messageText(i + j),
        });
        const res = await client.request("POST", "/webhooks/whatsapp", body, {
          "x-hub-signature-256": signature,
        });
        if (res.status !== 200) throw new Error(`inbound webhook answered ${res.status}: ${res.body}`);
      }),
    );
  }
}

await analyzeDatabase(p, "postgres");
const rss = sampleRss(p.server.child.pid!);
const cpu = await cpuMeter(p, "postgres");
const steps = [];
const rejected = new Map<string, number>();
let sent = 0;
for (const concurrency of levels) {
  const stepRss = sampleRss(p.server.child.pid!);
  const step = await closedLoop(
    concurrency,
    seconds,
    async (i) => {
      const res = await client.request(
        "POST",
        `/meta/whatsapp/v24.0/${numbers[i % numbers.length]}/messages`,
        JSON.stringify({
          messaging_product: "whatsapp",
          recipient_type: "individual",
          to: contact("1333", Math.floor(i / numbers.length) % contactCount).from,
          type: "text",
          text: { body: `Thanks for your message! Your order ships tomorrow. (${i})` },
        }),
        { "x-api-key": p.apiKey },
      );
      if (res.status !== 200) {
        const key = `${res.status} ${res.body.slice(0, 120)}`;
        rejected.set(key, (rejected.get(key) ?? 0) + 1);
      }
      return res.status === 200;
    },
    sent,
  );
  sent += step.sent;
  steps.push({ ...step, ...stepRss.stop(), ...machine() });
  console.log(JSON.stringify(steps.at(-1)));
}
const memory = rss.stop();
const accepted = steps.reduce((n, s) => n + s.ok, 0);

// The status webhooks (three per send) trail the sends; wait for the last `read`.
const count = () =>
  withDatabase(p, "postgres", async (query) => {
    const [row] = await query<{
      stored: number;
      with_wamid: number;
      read: number;
      sandbox: number;
      distinct: number;
    }>(
      `SELECT count(*)::int AS stored, count(wamid)::int AS with_wamid,
              count(*) FILTER (WHERE status = 'read')::int AS read,
              (SELECT count(*)::int FROM sandbox_sends) AS sandbox,
              (SELECT count(DISTINCT wamid)::int FROM sandbox_sends) AS distinct
       FROM messages WHERE direction = 'outbound'`,
    );
    return row!;
  });
let last = await count();
const statusesCaughtUpAfter = await waitUntil(async () => {
  last = await count();
  return last.read >= last.with_wamid;
}, 300_000);
const used = await cpu.stop();
client.close();
await p.close();

console.table(steps);
const summary = {
  accepted,
  stored_outbound: last.stored,
  stored_with_wamid: last.with_wamid,
  sandbox_sends: last.sandbox,
  sandbox_distinct_wamids: last.distinct,
  read: last.read,
  statuses_caught_up_after_s: statusesCaughtUpAfter,
  // Everything a send cost, from the first send until its statuses were all applied.
  server_cpu_ms_per_send: round((used.server_cpu_s * 1000) / accepted, 2),
  db_cpu_ms_per_send: round((used.database_cpu_s * 1000) / accepted, 2),
  ...memory,
};
console.table([summary]);
if (rejected.size) console.table([...rejected].map(([answer, n]) => ({ answer, n })));
console.log(JSON.stringify({ steps, summary }));
