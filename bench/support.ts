// What the benchmarks share: a server process on a fresh database of either engine, signed
// Meta webhooks, an HTTP client with kept-alive sockets, an open-loop load generator,
// percentiles, the server's RSS and the machine's load.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { openPglite } from "../src/db/database.ts";
import { signMetaPayload } from "../src/whatsapp/webhook-signature.ts";
import { type ServerProject, startServerProject } from "../test/support/server-project.ts";

export type Engine = "postgres" | "pglite";

/** The Meta app secret the benchmark servers are configured with (they verify webhooks with it). */
export const APP_SECRET = `bench_${randomBytes(16).toString("hex")}`;

/** `--engine postgres` (default) or `pglite`; `both` where a benchmark supports it. */
export function engines(value: string | undefined): Engine[] {
  if (value === undefined || value === "postgres") return ["postgres"];
  if (value === "pglite") return ["pglite"];
  if (value === "both") return ["postgres", "pglite"];
  throw new Error(`--engine must be postgres, pglite or both (got "${value}")`);
}

/**
 * A server process with a project, its API key and a sandbox number, on a database created for
 * the run: on the PostgreSQL server of `TEST_DATABASE_URL` (default the local one), or on
 * embedded PGlite in a temporary data directory.
 */
export async function startBenchServer(
  engine: Engine,
  env: Record<string, string> = {},
): Promise<ServerProject> {
  process.env.PARLEY_TEST_ENGINE = engine;
  process.env.TEST_DATABASE_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";
  return startServerProject({ LOG_LEVEL: "warn", META_APP_SECRET: APP_SECRET, ...env });
}

/**
 * Gathers PostgreSQL's planner statistics for the run's freshly filled tables, as autovacuum
 * does on a server that has run for a minute: without them, the first minute's plans guess (a
 * contact looked up among all of the project's instead of by number, say). Nothing for PGlite.
 */
export async function analyzeDatabase(p: ServerProject, engine: Engine): Promise<void> {
  if (engine === "postgres") await withDatabase(p, engine, (query) => query("ANALYZE"));
}

/**
 * Runs `fn` on the server's database. PGlite admits one process at a time, so for PGlite the
 * server is stopped first (it cannot be used afterwards); PostgreSQL is read alongside it.
 */
export async function withDatabase<T>(
  p: ServerProject,
  engine: Engine,
  fn: (query: <R>(text: string, values?: unknown[]) => Promise<R[]>) => Promise<T>,
): Promise<T> {
  if (engine === "postgres") {
    const client = new pg.Client({ connectionString: p.env.DATABASE_URL });
    await client.connect();
    try {
      return await fn(
        async <R>(text: string, values?: unknown[]) => (await client.query(text, values)).rows as R[],
      );
    } finally {
      await client.end();
    }
  }
  await p.server.stop();
  const db = await openPglite(path.join(p.env.PARLEY_DATA_DIR!, "pglite"));
  try {
    return await fn(async <R>(text: string, values?: unknown[]) => (await db.execute<R>(text, values)).rows);
  } finally {
    await db.close();
  }
}

/** A realistic inbound text webhook, as Meta sends it: one entry, one change, one message. */
export function inboundTextWebhook(
  number: { phoneNumberId: string; displayPhoneNumber: string; wabaId: string },
  message: { from: string; name: string; wamid: string; text: string },
): { body: string; signature: string } {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: number.wabaId,
        changes: [
          {
            value: {
              messaging_product: "whatsapp",
              metadata: {
                display_phone_number: number.displayPhoneNumber,
                phone_number_id: number.phoneNumberId,
              },
              contacts: [{ profile: { name: message.name }, wa_id: message.from }],
              messages: [
                {
                  from: message.from,
                  id: message.wamid,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: "text",
                  text: { body: message.text },
                },
              ],
            },
            field: "messages",
          },
        ],
      },
    ],
  });
  return { body, signature: signMetaPayload(APP_SECRET, body) };
}

/** The number's details a webhook names (display number, WABA). */
export async function numberDetails(p: ServerProject, phoneNumberId = p.phoneNumberId) {
  const { body } = await p.api<{
    data: { display_phone_number: string | null; business_account_id: string };
  }>("GET", `/whatsapp/phone_numbers/${phoneNumberId}`);
  return {
    phoneNumberId,
    displayPhoneNumber: (body.data.display_phone_number ?? "15550000000").replace(/\D/g, ""),
    wabaId: body.data.business_account_id,
  };
}

const FIRST_NAMES = ["Maria", "José", "Ana", "Luis", "Carmen", "Pedro", "Lucía", "Jorge", "Sofía", "Diego"];
const TEXTS = [
  "Hola, ¿tienen disponible la talla M?",
  "Hi! I ordered last week and haven't received a tracking number yet, can you check?",
  "Gracias 🙏",
  "What time do you open tomorrow?",
  "Quisiera cambiar la dirección de entrega de mi pedido #48213",
  "ok",
  "Can I pay on delivery?",
  "¿Hacen envíos a Monterrey?",
  "The package arrived damaged, what should I do? I can send photos.",
  "Perfecto, muchas gracias por la ayuda",
];

/** Contact `i` of a benchmark: a phone number under `prefix` and a profile name. */
export const contact = (prefix: string, i: number) => ({
  from: `${prefix}${String(i).padStart(7, "0")}`,
  name: `${FIRST_NAMES[i % FIRST_NAMES.length]} ${i}`,
});

/** Message `i`'s text (a rotation of realistic customer messages). */
export const messageText = (i: number) => `${TEXTS[i % TEXTS.length]} (${i})`;

/** A unique wamid in Meta's shape, carrying `tag` so a run's messages can be counted. */
export const wamid = (tag: string, i: number) =>
  `wamid.${Buffer.from(`HBgL${tag}${String(i).padStart(8, "0")}${randomBytes(6).toString("hex")}`).toString("base64")}`;

/** An HTTP/1.1 client with up to `sockets` kept-alive connections (more requests queue). */
export class HttpClient {
  readonly agent: http.Agent;
  readonly baseUrl: string;
  constructor(baseUrl: string, sockets = 128) {
    this.baseUrl = baseUrl;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(
    method: string,
    urlPath: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> {
    const url = new URL(urlPath, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...(body === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
            ...headers,
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** The `p`-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Resident memory of a process, in MB (Linux). */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/** Samples a process's RSS every 250 ms; `stop()` gives the peak and the last value. */
export function sampleRss(pid: number) {
  let peak = 0;
  let last = 0;
  const take = () => {
    try {
      last = rssMb(pid);
      peak = Math.max(peak, last);
    } catch {
      // The process is gone (stopped for a PGlite count).
    }
  };
  take();
  const timer = setInterval(take, 250);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peak_rss_mb: peak, rss_mb: last };
    },
  };
}

/** The machine, for the README's table: CPUs and load averages at this moment. */
export function machine() {
  const [one, five, fifteen] = os.loadavg().map((n) => round(n, 2));
  return { cpus: os.cpus().length, load: `${one} / ${five} / ${fifteen}` };
}

export interface StepResult {
  offered_per_s: number;
  sent: number;
  ok: number;
  errors: number;
  achieved_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * Open-loop load: `rate` requests a second for `seconds`, each started on schedule whatever
 * the earlier ones are doing (as Meta posts webhooks). Latency counts from the scheduled
 * start, so time spent queued behind a slow server counts too. `achieved_per_s` is the
 * successful requests over the time from the first start to the last answer.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  send: (i: number) => Promise<boolean>,
  offset = 0,
): Promise<StepResult> {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  let i = 0;
  while (i < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * rate) + 1);
    for (; i < due; i++) {
      const scheduled = start + (i / rate) * 1000;
      const n = offset + i;
      inFlight.push(
        send(n).then(
          (good) => {
            latencies.push(performance.now() - scheduled);
            if (good) ok++;
            else errors++;
          },
          () => {
            latencies.push(performance.now() - scheduled);
            errors++;
          },
        ),
      );
    }
    await sleep(Math.max(1, Math.min(5, start + (i / rate) * 1000 - performance.now())));
  }
  await Promise.all(inFlight);
  return { offered_per_s: rate, sent: total, ...loadSummary(ok, errors, latencies, start) };
}

/** What a load step measured: answers, rate achieved since `start`, latency percentiles. */
function loadSummary(ok: number, errors: number, latencies: number[], start: number) {
  const elapsed = (performance.now() - start) / 1000;
  return {
    ok,
    errors,
    achieved_per_s: Math.round(ok / elapsed),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(percentile(latencies, 100)),
  };
}

/** `--rates 250,500,1000` → [250, 500, 1000]. */
export function numberList(value: string, name: string): number[] {
  const items = value.split(",").map(Number);
  if (!items.every((n) => Number.isFinite(n) && n > 0)) throw new Error(`${name} must be positive numbers`);
  return items;
}

/**
 * The steps of an open-loop run: `warmup` seconds at the first rate (none when 0), reported as
 * their own row, then each rate for `seconds`.
 */
export function rateSteps(rates: number[], seconds: number, warmup: number) {
  return [
    ...(warmup > 0 ? [{ rate: rates[0]!, seconds: warmup, warmup: true }] : []),
    ...rates.map((rate) => ({ rate, seconds, warmup: false })),
  ];
}

/**
 * Closed-loop load: `concurrency` workers, each starting its next request when the last one
 * answered, for `seconds`. Latency is each request's own time.
 */
export async function closedLoop(
  concurrency: number,
  seconds: number,
  send: (i: number) => Promise<boolean>,
  offset = 0,
): Promise<Omit<StepResult, "offered_per_s"> & { concurrency: number }> {
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let next = offset;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const began = performance.now();
      const good = await send(next++).catch(() => false);
      latencies.push(performance.now() - began);
      if (good) ok++;
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { concurrency, sent: ok + errors, ...loadSummary(ok, errors, latencies, start) };
}

/** Connects another sandbox number to the project's first customer; resolves its Meta id. */
export async function addSandboxNumber(p: ServerProject, name: string): Promise<string> {
  const customers = await p.api<{ data: { id: string }[] }>("GET", "/customers");
  const number = await p.api<{ data: { phone_number_id: string } }>(
    "POST",
    `/customers/${customers.body.data[0]!.id}/whatsapp/phone_numbers`,
    { whatsapp_phone_number: { name, kind: "sandbox" } },
  );
  if (number.status !== 201) throw new Error(`sandbox number: ${JSON.stringify(number.body)}`);
  return number.body.data.phone_number_id;
}

/** Polls `probe` every 200 ms until it answers true or `timeoutMs` passes; resolves the seconds waited. */
export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number): Promise<number | null> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await probe()) return round((performance.now() - start) / 1000);
    await sleep(200);
  }
  return null;
}

/** CPU seconds (user + system) a process has used so far; undefined once it is gone. */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = 100;

/**
 * CPU time spent by the server process and, on PostgreSQL (local), by the backends serving its
 * database, from this call to `stop()`: what the work costs, whatever else the machine is
 * doing. Backends are listed at both ends (the pool keeps its connections; one that exits in
 * between is not counted).
 */
export async function cpuMeter(p: ServerProject, engine: Engine) {
  const backends = async (): Promise<number[]> => {
    if (engine !== "postgres") return [];
    const client = new pg.Client({ connectionString: p.env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
      );
      return rows.map((r) => r.pid);
    } finally {
      await client.end();
    }
  };
  const serverPid = p.server.child.pid!;
  const before = new Map<number, number>();
  for (const pid of [serverPid, ...(await backends())]) before.set(pid, cpuSecondsOf(pid) ?? 0);
  return {
    /** CPU seconds used by the server and by the database since the meter started. */
    async stop() {
      const pids = new Set([...before.keys(), ...(await backends())]);
      let database = 0;
      for (const pid of pids) {
        const now = cpuSecondsOf(pid);
        if (pid !== serverPid && now !== undefined) database += now - (before.get(pid) ?? 0);
      }
      const server = (cpuSecondsOf(serverPid) ?? 0) - before.get(serverPid)!;
      return { server_cpu_s: round(server, 2), database_cpu_s: round(database, 2) };
    },
  };
}
