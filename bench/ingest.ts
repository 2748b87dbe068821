// Ingest benchmark: signed inbound Meta webhooks (one text message each, from many contacts)
// posted to POST /webhooks/whatsapp of a real server process at increasing rates, on
// PostgreSQL and on PGlite. Reports, per rate, the messages acknowledged per second, p50/p99
// latency, the CPU time one message cost the server process and the database backends, and the
// server's RSS; then counts the stored messages to show none was lost or stored twice.
//
//   node bench/ingest.ts [--engine postgres|pglite|both] [--rates 25,50,100,250,500,1000,2000,3000]
//                        [--seconds 10] [--contacts 1000] [--warmup 3]
//
// The first `--warmup` seconds run at the first rate on the fresh server (JIT, connections,
// caches) and are reported as their own row, `warmup: true`, apart from the measured steps.
//
// PostgreSQL: a database is created on TEST_DATABASE_URL's server (default
// postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
import { parseArgs } from "node:util";
import {
  analyzeDatabase,
  contact,
  cpuMeter,
  type Engine,
  engines,
  HttpClient,
  inboundTextWebhook,
  machine,
  messageText,
  numberDetails,
  numberList,
  openLoop,
  rateSteps,
  round,
  sampleRss,
  startBenchServer,
  wamid,
  withDatabase,
} from "./support.ts";

const { values: args } = parseArgs({
  options: {
    engine: { type: "string", default: "both" },
    rates: { type: "string", default: "25,50,100,250,500,1000,2000,3000" },
    seconds: { type: "string", default: "10" },
    contacts: { type: "string", default: "1000" },
    warmup: { type: "string", default: "3" },
  },
});
const rates = numberList(args.rates, "--rates");
const stepSeconds = Number(args.seconds);
const contacts = Number(args.contacts);
const warmupSeconds = Number(args.warmup);

async function run(engine: Engine) {
  const p = await startBenchServer(engine);
  const client = new HttpClient(p.server.url, 256);
  const rss = sampleRss(p.server.child.pid!);
  const number = await numberDetails(p);
  const tag = engine === "postgres" ? "INGPG" : "INGLT";
  const steps = [];
  let posted = 0;
  let acknowledged = 0;
  try {
    for (const { rate, seconds, warmup } of rateSteps(rates, stepSeconds, warmupSeconds)) {
      const stepRss = sampleRss(p.server.child.pid!);
      // Bodies are built and signed before the clock starts, so the client spends its CPU on
      // sending only.
      const count = Math.round(rate * seconds);
      const webhooks = Array.from({ length: count }, (_, i) => {
        const n = posted + i;
        return inboundTextWebhook(number, {
          ...contact("1444", n % contacts),
          wamid: wamid(tag, n),
          text: messageText(n),
        });
      });
      const cpu = await cpuMeter(p, engine);
      const step = await openLoop(rate, seconds, async (i) => {
        const { body, signature } = webhooks[i]!;
        const res = await client.request("POST", "/webhooks/whatsapp", body, {
          "x-hub-signature-256": signature,
        });
        return res.status === 200;
      });
      posted += count;
      acknowledged += step.ok;
      const used = await cpu.stop();
      steps.push({
        engine,
        ...(warmup ? { warmup } : {}),
        ...step,
        server_cpu_ms_per_msg: round((used.server_cpu_s * 1000) / step.ok, 2),
        db_cpu_ms_per_msg: round((used.database_cpu_s * 1000) / step.ok, 2),
        ...stepRss.stop(),
        ...machine(),
      });
      console.log(JSON.stringify(steps.at(-1)));
      if (warmup) await analyzeDatabase(p, engine);
      // An overloaded step says enough; higher rates would only queue longer.
      if (!warmup && step.achieved_per_s < 0.8 * rate) break;
    }
  } finally {
    client.close();
  }
  const memory = rss.stop();
  const [stored] = await withDatabase(p, engine, (query) =>
    query<{ rows: number; distinct_wamids: number; contacts: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT wamid)::int AS distinct_wamids,
              count(DISTINCT contact_id)::int AS contacts
       FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.%'`,
    ),
  );
  await p.close();
  return {
    steps,
    count: {
      engine,
      posted,
      acknowledged,
      stored_rows: stored!.rows,
      distinct_wamids: stored!.distinct_wamids,
      lost: acknowledged - stored!.distinct_wamids,
      duplicated: stored!.rows - stored!.distinct_wamids,
      contacts: stored!.contacts,
      ...memory,
    },
  };
}

const results = [];
for (const engine of engines(args.engine)) results.push(await run(engine));
console.table(results.flatMap((r) => r.steps));
console.table(results.map((r) => r.count));
console.log(JSON.stringify(results));
