import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: unknown;
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The status the sink answered with. */
  answered: number;
}

export interface WebhookSink {
  url: string;
  received: ReceivedWebhook[];
  /** Status the sink answers with (default 200). */
  status: number;
  /** When set, decides the status per request instead of `status`. */
  decide?: (raw: string) => number;
  /** Milliseconds the sink takes before it answers (default 0). */
  delayMs: number;
  /** The body the sink answers with (default `{}`). */
  reply: string;
  /** Resolves when `predicate` holds for the received webhooks (polls; fails after `timeoutMs`). */
  waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A small local HTTP endpoint standing in for a webhook receiver, recording what it gets. */
export async function startWebhookSink(): Promise<WebhookSink> {
  const received: ReceivedWebhook[] = [];
  const sink = { status: 200, delayMs: 0, reply: "{}" } as WebhookSink;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const answered = sink.decide ? sink.decide(raw) : sink.status;
      received.push({ headers: req.headers, raw, body, at: Date.now(), answered });
      setTimeout(() => {
        res.writeHead(answered, { "content-type": "application/json" });
        res.end(sink.reply);
      }, sink.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(sink, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whatsapp`,
    received,
    async waitFor(predicate: (r: ReceivedWebhook[]) => boolean, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error(`webhook sink: condition not met; got ${received.length}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
