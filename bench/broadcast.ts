// Broadcast benchmark: 10,000 recipients at a 1,000 messages/s pace against the built-in
// sandbox, on real PostgreSQL, in a real server process; then the same with a SIGKILL and a
// restart half-way. Counts duplicates and lost recipients at the sandbox (sandbox_sends).
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/broadcast.ts [recipients]
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { type ServerProject, startServerProject } from "../test/support/server-project.ts";

if (!process.env.TEST_DATABASE_URL) {
  console.error("set TEST_DATABASE_URL (a PostgreSQL server; a database is created for the run)");
  process.exit(1);
}
process.env.PARLEY_TEST_ENGINE = "postgres";
const total = Number(process.argv[2] ?? 10_000);
const rate = 1000;

type Broadcast = Record<string, number | string>;

async function createBroadcast(p: ServerProject, prefix: string): Promise<string> {
  const number = await p.api<{ data: { business_account_id: string } }>(
    "GET",
    `/whatsapp/phone_numbers/${p.phoneNumberId}`,
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
      phone_number_id: p.phoneNumberId,
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
async function sandboxTally(databaseUrl: string, prefix: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ lost: number; duplicated: number; sends: number; retried: number }>(
    `WITH sends AS (SELECT recipient, count(*) AS n FROM sandbox_sends WHERE recipient LIKE $1 GROUP BY recipient)
     SELECT ($2::int - count(*))::int AS lost, count(*) FILTER (WHERE n > 1)::int AS duplicated,
            coalesce(sum(n), 0)::int AS sends,
            (SELECT count(*) FROM broadcast_recipients WHERE phone_number LIKE $1 AND attempts > 0)::int AS retried
     FROM sends`,
    [`${prefix}%`, total],
  );
  await client.end();
  return rows[0]!;
}

async function run(crash: boolean) {
  const p = await startServerProject({
    PARLEY_SEND_RATE_PER_SECOND: String(rate),
    // A send whose answer was lost in the crash waits this long for its status before it fails.
    PARLEY_BROADCAST_UNCERTAIN_SECONDS: "30",
    LOG_LEVEL: "warn",
  });
  try {
    const prefix = crash ? "1666" : "1555";
    const id = await createBroadcast(p, prefix);
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
    const tally = await sandboxTally(p.env.DATABASE_URL!, prefix);
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
  }
}

const results = [await run(false), await run(true)];
console.table(results);
console.log(JSON.stringify(results));
