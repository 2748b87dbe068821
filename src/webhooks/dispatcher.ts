import { createHmac } from "node:crypto";
import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { EVENTS_CHANNEL } from "../events/publish.ts";
import { checkOutboundUrl } from "../security/outbound.ts";

interface DueDelivery {
  id: string;
  event: string;
  payload: unknown;
  attempt_count: number;
  url: string;
  secret_key: string;
  headers: Record<string, string> | null;
  payload_version: string;
}

const BATCH = 20;
const LEASE_SECONDS = 30;
const TIMEOUT_MS = 10_000;
const POLL_MS = 500;

/** Kapso's signature: lowercase-hex HMAC-SHA256 of the raw body with the webhook's secret. */
export function signWebhookBody(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * Claims due deliveries with a lease (several processes share the work; a process that dies
 * mid-delivery loses its lease and another retries), POSTs them, and records the outcome. A
 * delivery is at-least-once: receivers dedupe on `X-Idempotency-Key` (the delivery id).
 */
export async function dispatchDueDeliveries(ctx: AppContext): Promise<number> {
  const due = await ctx.db.query<DueDelivery>(sql`
    UPDATE webhook_deliveries d SET locked_until = clock_timestamp() + make_interval(secs => ${LEASE_SECONDS})
    FROM webhooks w
    WHERE d.id IN (
      SELECT id FROM webhook_deliveries
      WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
        AND (locked_until IS NULL OR locked_until < clock_timestamp())
      ORDER BY next_attempt_at, created_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      AND w.id = d.webhook_id
    RETURNING d.id, d.event, d.payload, d.attempt_count, w.url, w.secret_key, w.headers, w.payload_version`);
  await Promise.all(due.map((d) => deliver(ctx, d)));
  return due.length;
}

async function deliver(ctx: AppContext, d: DueDelivery): Promise<void> {
  const body = JSON.stringify(d.payload);
  let status: number | null = null;
  let error: string | null = null;
  try {
    await checkOutboundUrl(d.url, ctx.config.outboundAllowlist);
    const response = await fetch(d.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: {
        ...(d.headers ?? {}),
        "content-type": "application/json",
        "x-webhook-event": d.event,
        "x-webhook-signature": signWebhookBody(d.secret_key, body),
        "x-idempotency-key": d.id,
        "x-webhook-payload-version": d.payload_version,
      },
      body,
    });
    status = response.status;
    await response.body?.cancel();
  } catch (err) {
    error = (err as Error).message;
  }
  const attempts = d.attempt_count + 1;
  if (status !== null && status >= 200 && status < 300) {
    await ctx.db.query(sql`
      UPDATE webhook_deliveries SET status = 'delivered', attempt_count = ${attempts}, response_status = ${status},
        delivered_at = clock_timestamp(), last_attempt_at = clock_timestamp(), locked_until = NULL, last_error = NULL
      WHERE id = ${d.id}`);
    return;
  }
  const delays = ctx.config.webhookRetryDelaysSeconds;
  const delay = delays[attempts - 1];
  await ctx.db.query(sql`
    UPDATE webhook_deliveries SET attempt_count = ${attempts}, response_status = ${status},
      last_error = ${error ?? `HTTP ${status}`}, last_attempt_at = clock_timestamp(), locked_until = NULL,
      status = ${delay === undefined ? "failed" : "pending"},
      failed_at = ${delay === undefined ? sql`clock_timestamp()` : sql`NULL`},
      next_attempt_at = clock_timestamp() + make_interval(secs => ${delay ?? 0})
    WHERE id = ${d.id}`);
}

/**
 * Runs the dispatcher in this process: woken by every committed event (NOTIFY) and by a short
 * poll for retries that fall due. Returns a function that stops it.
 */
export async function startWebhookDispatcher(ctx: AppContext): Promise<() => Promise<void>> {
  let running = false;
  let again = false;
  let stopped = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        while (!stopped && (await dispatchDueDeliveries(ctx)) === BATCH);
      } while (again && !stopped);
    } catch (err) {
      ctx.log.error({ err }, "webhook dispatch failed");
    } finally {
      running = false;
    }
  };
  const unlisten = await ctx.db.listen(EVENTS_CHANNEL, () => void run());
  const timer = setInterval(() => void run(), POLL_MS);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await unlisten();
    while (running) await new Promise((r) => setTimeout(r, 20));
  };
}
