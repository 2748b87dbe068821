// Embedded inbox benchmark, in headless Chromium against a real server process (PostgreSQL by
// default), with 1,000 conversations in a project-scoped embed:
//
// 1. Time to first paint of the conversation list: the inbox page loaded on its own, from its
//    navigation start to the first animation frame after the first conversation row exists
//    (and the browser's own first-contentful-paint), cold (a fresh browser context: nothing
//    cached) and warm (reloaded: the script comes from the cache).
// 2. JS shipped: the page's script as the server sends it gzipped, and the HTML page.
// 3. Inbound webhook → message on screen: the inbox framed by a host page on another origin, one
//    conversation open; signed inbound webhooks for that contact, one at a time; the delay runs
//    from just before the webhook is posted to the moment the message's element is added to
//    the thread (a MutationObserver in the frame reads the same clock).
//
//   node bench/inbox.ts [--engine postgres|pglite] [--conversations 1000] [--loads 5] [--messages 50]
//
// Needs Chromium at /usr/bin/chromium (PARLEY_CHROMIUM overrides). PostgreSQL: a database is
// created on TEST_DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { type Browser, chromium, type Frame, type Page } from "playwright-core";
import {
  contact,
  engines,
  HttpClient,
  inboundTextWebhook,
  machine,
  messageText,
  numberDetails,
  percentile,
  round,
  startBenchServer,
  waitUntil,
  wamid,
} from "./support.ts";

const { values: args } = parseArgs({
  options: {
    engine: { type: "string", default: "postgres" },
    conversations: { type: "string", default: "1000" },
    loads: { type: "string", default: "5" },
    messages: { type: "string", default: "50" },
  },
});
const [engine] = engines(args.engine);
const conversationCount = Number(args.conversations);
const loads = Number(args.loads);
const messageCount = Number(args.messages);

const p = await startBenchServer(engine!);
const client = new HttpClient(p.server.url, 64);
const number = await numberDetails(p);
let posted = 0;
async function postInbound(contactIndex: number, text: string): Promise<void> {
  const { body, signature } = inboundTextWebhook(number, {
    ...contact("1777", contactIndex),
    wamid: wamid("INBOX", posted++),
    text,
  });
  const res = await client.request("POST", "/webhooks/whatsapp", body, { "x-hub-signature-256": signature });
  if (res.status !== 200) throw new Error(`inbound webhook answered ${res.status}: ${res.body}`);
}

// 1,000 contacts write once: 1,000 active conversations in the project.
for (let i = 0; i < conversationCount; i += 25) {
  await Promise.all(
    Array.from({ length: Math.min(25, conversationCount - i) }, (_, j) =>
      postInbound(i + j, messageText(i + j)),
    ),
  );
}
const embed = await p.api<{ data: { token: string; embed_url: string } }>("POST", "/inbox_embeds", {
  inbox_embed: { scope_type: "project" },
});
if (embed.status !== 201) throw new Error(`inbox embed: ${JSON.stringify(embed.body)}`);
// The server's own address (PUBLIC_URL defaults to localhost:PORT, which the host page uses).
const embedUrl = `${p.server.url}/embed/${embed.body.data.token}`;

const browser: Browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});

/** Installed in every document: when the list gets its first row, and the first paint. */
const LIST_PROBE = `
window.__bench = {};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.name === "first-contentful-paint") window.__bench.fcp = e.startTime;
}).observe({ type: "paint", buffered: true });
new MutationObserver((_, observer) => {
  if (!document.querySelector("#conversations li[data-id]")) return;
  observer.disconnect();
  window.__bench.rows = document.querySelectorAll("#conversations li[data-id]").length;
  requestAnimationFrame(() => { window.__bench.list = performance.now(); });
}).observe(document, { childList: true, subtree: true });`;

async function listPaint(page: Page) {
  await page.goto(embedUrl);
  await page.waitForFunction(
    "window.__bench && window.__bench.list !== undefined && window.__bench.fcp !== undefined",
    null,
    {
      timeout: 30_000,
    },
  );
  return (await page.evaluate("window.__bench")) as { list: number; fcp: number; rows: number };
}

// 1. First paint of the list, cold and warm.
const cold: { list: number; fcp: number; rows: number }[] = [];
const warm: { list: number; fcp: number; rows: number }[] = [];
for (let n = 0; n < loads; n++) {
  const context = await browser.newContext();
  await context.addInitScript(LIST_PROBE);
  const page = await context.newPage();
  cold.push(await listPaint(page));
  warm.push(await listPaint(page));
  await context.close();
}
const paint = (runs: typeof cold, kind: string) => ({
  page_load: kind,
  runs: runs.length,
  rows_first_page: runs[0]!.rows,
  list_median_ms: round(
    percentile(
      runs.map((r) => r.list),
      50,
    ),
  ),
  list_max_ms: round(
    percentile(
      runs.map((r) => r.list),
      100,
    ),
  ),
  fcp_median_ms: round(
    percentile(
      runs.map((r) => r.fcp),
      50,
    ),
  ),
  ...machine(),
});
const paints = [paint(cold, "cold"), paint(warm, "warm")];
console.log(JSON.stringify(paints));

// 2. What the browser downloads.
const html = await client.request("GET", `/embed/${embed.body.data.token}`);
const scriptPath = /<script src="([^"]+)"/.exec(html.body)![1]!;
const script = await fetch(`${p.server.url}${scriptPath}`, { headers: { "accept-encoding": "gzip" } });
const scriptBytes = Buffer.from(await script.arrayBuffer());
const shipped = {
  script: scriptPath,
  script_content_encoding: script.headers.get("content-encoding"),
  script_bytes_on_wire: Number(script.headers.get("content-length") ?? scriptBytes.length),
  script_kb_gzip: round(Number(script.headers.get("content-length") ?? 0) / 1024, 1),
  html_kb: round(Buffer.byteLength(html.body) / 1024, 1),
  html_kb_if_gzipped: round(gzipSync(html.body).length / 1024, 1),
};
console.log(JSON.stringify(shipped));

// 3. Inbound webhook → message in an open, framed inbox.
const host = http.createServer((req, res) => {
  const src = new URL(req.url!, "http://x").searchParams.get("src")!;
  res.writeHead(200, { "content-type": "text/html" });
  res.end(
    `<!doctype html><iframe id="inbox" src="${src}" style="width:1000px;height:700px;border:0"></iframe>`,
  );
});
await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
const hostOrigin = `http://localhost:${(host.address() as AddressInfo).port}`;
const target = contact("1777", 0).from;
const conversations = await p.api<{ data: { id: string }[] }>(
  "GET",
  `/whatsapp/conversations?phone_number=${target}&limit=1`,
);
const conversationId = conversations.body.data[0]!.id;
const page = await browser.newPage();
await page.goto(`${hostOrigin}/?src=${encodeURIComponent(`${embedUrl}?conversation_id=${conversationId}`)}`);
const frame: Frame = await (await page.waitForSelector("#inbox")).contentFrame().then((f) => f!);
await frame.locator(".msg.inbound").first().waitFor({ timeout: 30_000 });
await frame.locator("#dot.on").waitFor({ timeout: 30_000 });
await frame.evaluate(`
window.__seen = {};
new MutationObserver((records) => {
  const at = Date.now();
  for (const r of records)
    for (const node of r.addedNodes)
      if (node.nodeType === 1 && node.matches(".msg.inbound")) {
        const text = node.textContent || "";
        const key = /bench-(\\d+)/.exec(text);
        if (key && !(key[1] in window.__seen)) window.__seen[key[1]] = at;
      }
}).observe(document.getElementById("messages"), { childList: true, subtree: true });`);
const delays: number[] = [];
let missing = 0;
for (let k = 0; k < messageCount; k++) {
  const postedAt = Date.now();
  await postInbound(0, `bench-${k} ¿me confirmas el pedido?`);
  const shown = await waitUntil(
    async () => (await frame.evaluate(`String(${k}) in window.__seen`)) as boolean,
    15_000,
  );
  if (shown === null) missing++;
  else delays.push(((await frame.evaluate(`window.__seen[${k}]`)) as number) - postedAt);
  await sleep(100);
}
const live = {
  messages: messageCount,
  shown: delays.length,
  missing,
  p50_ms: round(percentile(delays, 50)),
  p95_ms: round(percentile(delays, 95)),
  max_ms: round(percentile(delays, 100)),
  ...machine(),
};

await browser.close();
host.close();
client.close();
await p.close();
console.table(paints);
console.table([shipped]);
console.table([live]);
console.log(JSON.stringify({ engine, conversations: conversationCount, paints, shipped, live }));
