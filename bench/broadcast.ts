// Broadcast benchmark: 10,000 recipients at a 1,000 messages/s pace, on real PostgreSQL, in a
// real Parley server process; then the same with a SIGKILL and a restart of Parley half-way.
// Meta is played by the sandbox of a second server process (its own database), as a production
// number pointed at it with META_GRAPH_URL: so the kill stops Parley, not "Meta", and a send the
// sandbox accepted before the kill is still answered with its status webhooks after the restart.
// Counts duplicates and lost recipients at the sandbox (sandbox_sends).
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/broadcast.ts [recipients]
import { randomBytes, randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { freePort } from "../test/support/process.ts";
import { type ServerProject, startServerProject } from "../test/support/server-project.ts";
import { analyzeDatabase } from "./support.ts";

if (!process.env.TEST_DATABASE_URL) {
  console.error("set TEST_DATABASE_URL (a PostgreSQL server; a database is created for the run)");
  process.exit(1);
}
process.env.PARLEY_TEST_ENGINE = "postgres";
const total = Number(process.argv[2] ?? 10_000);
const rate = 1000;

type Broadcast = Record<string, number | string>;

async function query<T>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

const metaId = () =>
  `1${String(randomInt(10 ** 7)).padStart(7, "0")}${String(randomInt(10 ** 7)).padStart(7, "0")}`;

/**
 * Meta (a server whose sandbox answers the Graph API and posts the status webhooks) and Parley
 * (a server with a production number on it), each on its own database.
 */
async function startMetaAndParley(): Promise<{
  meta: ServerProject;
  parley: ServerProject;
  numberId: string;
}> {
  const parleyPort = await freePort();
  const meta = await startServerProject({
    PARLEY_SANDBOX_WEBHOOK_URL: `http://127.0.0.1:${parleyPort}/webhooks/whatsapp`,
    LOG_LEVEL: "warn",
  });
  // The sandbox signs its webhooks with its own secret (made on first use, as the sandbox makes
  // it); Parley checks them as Meta's app secret.
  await query(
    meta.env.DATABASE_URL!,
    "INSERT INTO settings (key, value) VALUES ('sandbox_app_secret', $1) ON CONFLICT (key) DO NOTHING",
    [randomBytes(32).toString("hex")],
  );
  const [{ value: secret }] = (await query<{ value: string }>(
    meta.env.DATABASE_URL!,
    "SELECT value FROM settings WHERE key = 'sandbox_app_secret'",
  )) as [{ value: string }];
  const parley = await startServerProject({
    PORT: String(parleyPort),
    META_GRAPH_URL: `${meta.server.url}/sandbox/graph`,
    META_APP_SECRET: secret,
    PARLEY_SEND_RATE_PER_SECOND: String(rate),
    // A send whose answer was lost in the crash waits this long for its status before it fails.
    PARLEY_BROADCAST_UNCERTAIN_SECONDS: "30",
    LOG_LEVEL: "warn",
  });
  const customer = await parley.api<{ data: { id: string } }>("POST", "/customers", {
    customer: { name: "Bench", external_customer_id: "bench" },
  });
  const numberId = metaId();
  const connected = await parley.api("POST", `/customers/${customer.body.data.id}/whatsapp/phone_numbers`, {
    whatsapp_phone_number: {
      name: "Bench line",
      kind: "production",
      phone_number_id: numberId,
      business_account_id: metaId(),
      access_token: "sandbox-bench",
    },
  });
  if (connected.status !== 201) throw new Error(`production number: ${JSON.stringify(connected.body)}`);
  return { meta, parley, numberId };
}

async function createBroadcast(p: ServerProject, numberId: string, prefix: string): Promise<string> {
  const number = await p.api<{ data: { business_account_id: string } }>(
    "GET",
    `/whatsapp/phone_numbers/${numberId}`,
  );
  const templates = (await (
    await fetch(
      `${p.server.url}/meta/whatsapp/v24.0/${number.body.data.business_account_id}/message_templates?name=order_update`,
      { headers: { "x-api-key": p.apiKey } },
    )
  ).json()) as { data: { id: string }[] };
  const created = await p.api<{ data: { id: string } }>("POST", "/whatsapp/broadcasts", {
    whatsapp_broadcast: {
      name: "bench",
      phone_number_id: numberId,
      whatsapp_template_id: templates.data[0]!.id,
    },
  });
  const id = created.body.data.id;
  for (let i = 0; i < total; i += 1000) {
    const recipients = Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({
      phone_number: `${prefix}${String(i + j).padStart(7, "0")}`,
      components: [{ type: "body", parameters: [{ type: "text", text: `#${i + j}` }] }],
    }));
    await p.api("POST", `/whatsapp/broadcasts/${id}/recipients`, { whatsapp_broadcast: { recipients } });
  }
  return id;
}

const get = async (p: ServerProject, id: string) =>
  (await p.api<{ data: Broadcast }>("GET", `/whatsapp/broadcasts/${id}`)).body.data;

async function waitFor(p: ServerProject, id: string, done: (b: Broadcast) => boolean): Promise<Broadcast> {
  for (;;) {
    const b = await get(p, id).catch(() => undefined);
    if (b && done(b)) return b;
    await sleep(100);
  }
}

/** Sends per recipient at the sandbox: how many recipients got none, and how many more than one. */
async function sandboxTally(meta: ServerProject, parley: ServerProject, prefix: string) {
  const [sends] = await query<{ lost: number; duplicated: number; sends: number }>(
    meta.env.DATABASE_URL!,
    `WITH sends AS (SELECT recipient, count(*) AS n FROM sandbox_sends WHERE recipient LIKE $1 GROUP BY recipient)
     SELECT ($2::int - count(*))::int AS lost, count(*) FILTER (WHERE n > 1)::int AS duplicated,
            coalesce(sum(n), 0)::int AS sends
     FROM sends`,
    [`${prefix}%`, total],
  );
  const [retried] = await query<{ retried: number }>(
    parley.env.DATABASE_URL!,
    "SELECT count(*)::int AS retried FROM broadcast_recipients WHERE phone_number LIKE $1 AND attempts > 0",
    [`${prefix}%`],
  );
  return { ...sends!, ...retried! };
}

async function run(crash: boolean) {
  const { meta, parley: p, numberId } = await startMetaAndParley();
  try {
    const prefix = crash ? "1666" : "1555";
    const id = await createBroadcast(p, numberId, prefix);
    await analyzeDatabase(p, "postgres");
    const started = performance.now();
    await p.api("POST", `/whatsapp/broadcasts/${id}/send`);
    let killedAt: number | undefined;
    if (crash) {
      await waitFor(p, id, (b) => Number(b.sent_count) >= total / 2);
      killedAt = (performance.now() - started) / 1000;
      await p.server.kill();
      await p.restart();
    }
    const done = await waitFor(p, id, (b) => ["completed", "failed", "stopped"].includes(String(b.status)));
    const seconds = (performance.now() - started) / 1000;
    const tally = await sandboxTally(meta, p, prefix);
    return {
      scenario: crash ? "SIGKILL + restart half-way" : "straight",
      recipients: total,
      status: done.status,
      seconds: Number(seconds.toFixed(1)),
      per_second: Math.round(total / seconds),
      sent: done.sent_count,
      failed: done.failed_count,
      ...(killedAt ? { killed_after_seconds: Number(killedAt.toFixed(1)) } : {}),
      ...tally,
    };
  } finally {
    await p.close();
    await meta.close();
  }
}

const results = [await run(false), await run(true)];
console.table(results);
console.log(JSON.stringify(results));
