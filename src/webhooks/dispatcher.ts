import { createHmac } from "node:crypto";
import type { Readable } from "node:stream";
import sql from "sql-template-tag";
import { request as httpRequest } from "undici";
import type { Config } from "../config.ts";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { groupCommit } from "../db/group-commit.ts";
import { json, recordset } from "../db/sql.ts";
import { EVENTS_CHANNEL, type EventNotice } from "../events/publish.ts";
import { checkOutboundUrl } from "../security/outbound.ts";
import { type BatchPayload, flushDueBuffers, resendAsSingles } from "./buffer.ts";
import { type OutgoingDelivery, outgoing, whatsappConfigSql } from "./payload.ts";

interface DueDelivery extends OutgoingDelivery {
  id: string;
  idempotency_key: string | null;
  batch_size: number | null;
  test: boolean;
  attempt_count: number;
  age_seconds: number;
  webhook_id: string;
  url: string;
  secret_key: string;
  headers: Record<string, string> | null;
}

const BATCH = 50;
const LEASE_SECONDS = 30;
const TIMEOUT_MS = 10_000;
const POLL_MS = 500;
/** Most deliveries one process has out with receivers at once. */
const MAX_IN_FLIGHT = 200;
/** How long finished deliveries wait to share one claim of what they let through. */
const COMPLETION_WAKE_MS = 10;

/** Kapso's signature: lowercase-hex HMAC-SHA256 of the raw body with the webhook's secret. */
export function signWebhookBody(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * Seconds to wait before the next attempt after `attempts` failed ones, or undefined when the
 * delivery has failed for good. The listed delays come first (10, 40, 90 s, as Kapso); then the
 * wait doubles from the last of them, capped at `webhookRetryMaxDelaySeconds`, with equal jitter
 * (half fixed, half random), for as long as the delivery is younger than the retry window.
 */
export function retryDelaySeconds(config: Config, attempts: number, ageSeconds: number): number | undefined {
  const listed = config.webhookRetryDelaysSeconds;
  if (attempts <= listed.length) return listed[attempts - 1];
  const window = config.webhookRetryWindowHours * 3600;
  if (ageSeconds >= window) return undefined;
  const last = listed[listed.length - 1] || 10;
  const base = Math.min(config.webhookRetryMaxDelaySeconds, last * 2 ** (attempts - listed.length));
  const delay = base / 2 + (Math.random() * base) / 2;
  return Math.min(delay, window - ageSeconds);
}

/**
 * Claims up to `limit` due deliveries with a lease (several processes share the work; a process
 * that dies mid-delivery loses its lease and another retries). A delivery is at-least-once:
 * receivers dedupe on `X-Idempotency-Key`.
 *
 * A delivery is due when its time has come, its webhook is active (a test goes out anyway), and
 * no earlier delivery of the same conversation to the same webhook is still pending — unless it
 * has waited `webhookOrderWaitSeconds` (30 s) already, after which it goes out regardless.
 */
async function claimDueDeliveries(ctx: AppContext, limit: number): Promise<DueDelivery[]> {
  const wait = ctx.config.webhookOrderWaitSeconds;
  return ctx.db.query<DueDelivery>(sql`
    UPDATE webhook_deliveries d SET locked_until = clock_timestamp() + make_interval(secs => ${LEASE_SECONDS})
    FROM webhooks w
    WHERE d.id IN (
      SELECT c.id FROM webhook_deliveries c JOIN webhooks cw ON cw.id = c.webhook_id
      WHERE c.status = 'pending' AND c.next_attempt_at <= clock_timestamp()
        AND (c.locked_until IS NULL OR c.locked_until < clock_timestamp())
        AND (cw.active OR c.test)
        AND (c.conversation_id IS NULL
          OR c.created_at <= clock_timestamp() - make_interval(secs => ${wait})
          OR NOT EXISTS (
            SELECT 1 FROM webhook_deliveries e
            WHERE e.webhook_id = c.webhook_id AND e.conversation_id = c.conversation_id
              AND e.status = 'pending' AND e.seq < c.seq))
      ORDER BY c.next_attempt_at, c.seq LIMIT ${limit} FOR UPDATE OF c SKIP LOCKED)
      AND w.id = d.webhook_id
    RETURNING d.id, d.event, d.payload, d.body, d.idempotency_key, d.batch_size, d.test, d.attempt_count,
      extract(epoch FROM clock_timestamp() - d.created_at)::float8 AS age_seconds,
      w.id AS webhook_id, w.kind, w.url, w.secret_key, w.headers, w.payload_version,
      ${whatsappConfigSql(sql`d`, sql`w`)} AS whatsapp_config`);
}

function headersFor(d: DueDelivery, event: string, body: string): Record<string, string> {
  const headers: Record<string, string> = {
    ...(d.headers ?? {}),
    "content-type": "application/json",
    "x-webhook-signature": signWebhookBody(d.secret_key, body),
    "x-idempotency-key": d.idempotency_key ?? d.id,
  };
  if (d.kind === "kapso") {
    headers["x-webhook-event"] = event;
    headers["x-webhook-payload-version"] = d.payload_version;
  }
  if (d.batch_size !== null) {
    headers["x-webhook-batch"] = "true";
    headers["x-batch-size"] = String(d.batch_size);
  }
  return headers;
}

/** How much of a receiver's answer is kept with each attempt (for GET /webhook_deliveries/{id}). */
export const RESPONSE_BODY_LIMIT = 2048;

/** The first `RESPONSE_BODY_LIMIT` bytes of a response body as text; the rest is not read. */
async function responseStart(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
      if (size >= RESPONSE_BODY_LIMIT) break;
    }
  } catch {
    // A body cut off or too slow: keep what arrived (the status decides the outcome).
  } finally {
    body.destroy();
  }
  // PostgreSQL text cannot hold NUL characters, which a receiver's body may contain.
  return new TextDecoder()
    .decode(Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT))
    .replaceAll("\0", "");
}

/** What one attempt at a delivery came to. */
interface AttemptOutcome {
  d: DueDelivery;
  headers: Record<string, string>;
  status: number | null;
  responseBody: string | null;
  error: string | null;
  startedAt: string;
  durationMs: number;
}

async function attemptDelivery(ctx: AppContext, d: DueDelivery): Promise<AttemptOutcome> {
  const { event, body } = outgoing(d);
  const headers = headersFor(d, event, body);
  let status: number | null = null;
  let responseBody: string | null = null;
  let error: string | null = null;
  const startedAt = new Date().toISOString();
  const start = performance.now();
  try {
    await checkOutboundUrl(d.url, ctx.config.outboundAllowlist);
    // Redirects are not followed (undici's request does not): each hop would need its own check.
    const response = await httpRequest(d.url, {
      method: "POST",
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers,
      body,
    });
    status = response.statusCode;
    responseBody = await responseStart(response.body);
  } catch (err) {
    error = (err as Error).message;
  }
  return { d, headers, status, responseBody, error, startedAt, durationMs: performance.now() - start };
}

const succeeded = (o: AttemptOutcome) => o.status !== null && o.status >= 200 && o.status < 300;

/**
 * Records a batch's successful attempts in one statement: each attempt's record, its
 * delivery's new state, and the end of the failure streak of each webhook they went to. A
 * successful test delivery to a webhook that Parley paused resumes it (a webhook paused through
 * the API stays paused), and its held deliveries are let go.
 */
async function recordDelivered(ctx: AppContext, outcomes: AttemptOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  // Each webhook once, a test among its deliveries counting as a test.
  const tested = new Map<string, boolean>();
  for (const { d } of outcomes) tested.set(d.webhook_id, (tested.get(d.webhook_id) ?? false) || d.test);
  const webhooks = [...tested].map(([webhook_id, test]) => ({ webhook_id, test }));
  const rows = outcomes.map((o) => ({
    id: o.d.id,
    attempt: o.d.attempt_count + 1,
    request_url: o.d.url,
    request_headers: o.headers,
    response_status: o.status,
    response_body: o.responseBody,
    started_at: o.startedAt,
    duration_ms: o.durationMs,
  }));
  const resumed = await ctx.db.query<{ id: string }>(sql`
    WITH outcome AS (
      SELECT * FROM ${recordset(
        rows,
        sql`id uuid, attempt integer, request_url text, request_headers jsonb, response_status integer,
          response_body text, started_at timestamptz, duration_ms double precision`,
      )} AS o),
    attempt AS (
      INSERT INTO webhook_delivery_attempts (delivery_id, attempt, request_url, request_headers,
        response_status, response_body, started_at, duration_ms)
      SELECT id, attempt, request_url, request_headers, response_status, response_body, started_at, duration_ms
      FROM outcome),
    delivered AS (
      UPDATE webhook_deliveries d SET status = 'delivered', attempt_count = o.attempt,
        response_status = o.response_status, delivered_at = clock_timestamp(), last_attempt_at = clock_timestamp(),
        locked_until = NULL, last_error = NULL
      FROM outcome o WHERE d.id = o.id),
    streak AS (
      SELECT w.id, s.test AND w.paused_reason IS NOT NULL AS resume
      FROM webhooks w JOIN ${recordset(webhooks, sql`webhook_id uuid, test boolean`)} AS s ON s.webhook_id = w.id
      WHERE w.consecutive_failures > 0 OR (s.test AND w.paused_reason IS NOT NULL)
      ORDER BY w.id FOR UPDATE OF w),
    healed AS (
      UPDATE webhooks w SET consecutive_failures = 0, failing_since = NULL,
        active = w.active OR s.resume,
        paused_at = CASE WHEN s.resume THEN NULL ELSE w.paused_at END,
        paused_reason = CASE WHEN s.resume THEN NULL ELSE w.paused_reason END
      FROM streak s WHERE w.id = s.id
      RETURNING w.id, s.resume)
    SELECT id FROM healed WHERE resume`);
  for (const { id } of resumed) await releaseHeldDeliveries(ctx.db, id);
}

async function recordFailedAttempt(ctx: AppContext, o: AttemptOutcome): Promise<void> {
  const { d, status, error } = o;
  const attempts = d.attempt_count + 1;
  const reason = error ?? `HTTP ${status}`;
  // A delivery of a webhook that is (now) paused is held for its resumption, even past the
  // retry window: pausing must not lose what it was collecting.
  const paused = (await recordFailure(ctx, d.webhook_id, reason)) && !d.test;
  const delay = retryDelaySeconds(ctx.config, attempts, d.age_seconds);
  const failed = delay === undefined && !paused;
  // The attempt's record is written by the same statement as the delivery's new state.
  const update = sql`
    WITH attempt AS (
      INSERT INTO webhook_delivery_attempts (delivery_id, attempt, request_url, request_headers,
        response_status, response_body, error, started_at, duration_ms)
      VALUES (${d.id}, ${attempts}, ${d.url}, ${json(o.headers)}, ${status}, ${o.responseBody}, ${error},
        ${o.startedAt}, ${o.durationMs}))
    UPDATE webhook_deliveries SET attempt_count = ${attempts}, response_status = ${status},
      last_error = ${reason}, last_attempt_at = clock_timestamp(), locked_until = NULL,
      status = ${failed ? "failed" : "pending"},
      failed_at = ${failed ? sql`clock_timestamp()` : sql`NULL`},
      next_attempt_at = clock_timestamp() + make_interval(secs => ${delay ?? 0})
    WHERE id = ${d.id}`;
  if (!failed || d.batch_size === null) {
    await ctx.db.query(update);
    return;
  }
  // A batch that failed for good falls back to single events, written with its failure so
  // that no message is lost between the two.
  await ctx.db.transaction(async (tx) => {
    await tx.query(update);
    await resendAsSingles(tx, d.id, d.payload as BatchPayload);
  });
}

/**
 * Counts a failed attempt. When the streak reaches `webhookPauseAfterFailures` attempts and has
 * lasted `webhookPauseAfterHours`, the webhook is paused (`active: false`) with the reason.
 * Resolves whether the webhook is paused by Parley after this attempt.
 */
async function recordFailure(ctx: AppContext, webhookId: string, reason: string): Promise<boolean> {
  const { webhookPauseAfterFailures: failures, webhookPauseAfterHours: hours } = ctx.config;
  const [row] = await ctx.db.query<{
    paused_reason: string | null;
    paused_now: boolean;
    inactive: boolean;
  }>(sql`
    WITH streak AS (
      SELECT id, consecutive_failures + 1 AS n, COALESCE(failing_since, clock_timestamp()) AS since,
        active AND ${failures} > 0 AND consecutive_failures + 1 >= ${failures}
          AND COALESCE(failing_since, clock_timestamp()) <= clock_timestamp() - make_interval(secs => ${hours * 3600})
          AS pause
      FROM webhooks WHERE id = ${webhookId} FOR UPDATE)
    UPDATE webhooks w SET consecutive_failures = s.n, failing_since = s.since,
      active = w.active AND NOT s.pause,
      paused_at = CASE WHEN s.pause THEN clock_timestamp() ELSE w.paused_at END,
      paused_reason = CASE WHEN s.pause
        THEN s.n || ' consecutive failed delivery attempts since ' ||
             to_char(s.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last: ' || ${reason.slice(0, 300)}
        ELSE w.paused_reason END
    FROM streak s WHERE w.id = s.id
    RETURNING w.paused_reason, s.pause AS paused_now, NOT w.active AS inactive`);
  if (row?.paused_now) ctx.log.warn({ webhook_id: webhookId, reason: row.paused_reason }, "webhook paused");
  return Boolean(row?.inactive && row.paused_reason !== null);
}

/** Makes a resumed webhook's held deliveries due at once and wakes the dispatchers. */
export async function releaseHeldDeliveries(db: Queryable, webhookId: string): Promise<void> {
  await db.query(sql`
    UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp()
    WHERE webhook_id = ${webhookId} AND status = 'pending' AND next_attempt_at > clock_timestamp()`);
  await db.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, '{}')`);
}

/**
 * Runs the dispatcher in this process: woken by every committed event that made a delivery
 * (NOTIFY), by a short poll for retries and buffers that fall due, and by deliveries finishing
 * (a conversation's next delivery waits for its previous one). Deliveries are claimed while
 * fewer than `MAX_IN_FLIGHT` are out, and each is recorded when its receiver answers, so a slow
 * receiver (up to the 10 s timeout) holds up only its own deliveries. Successes answered
 * together are recorded with one statement. Returns a function that stops it.
 */
export async function startWebhookDispatcher(ctx: AppContext): Promise<() => Promise<void>> {
  const inFlight = new Set<Promise<void>>();
  let claiming = false;
  let again = false;
  let flushWanted = true;
  let stopped = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  const recordSuccess = groupCommit<AttemptOutcome>(
    ctx.db,
    async (_db, outcomes) => {
      await recordDelivered(ctx, outcomes);
    },
    { maxBatch: BATCH, parallel: 1, transaction: false },
  );
  const deliver = (d: DueDelivery) => {
    const out: Promise<void> = attemptDelivery(ctx, d)
      .then((o) => (succeeded(o) ? recordSuccess(o) : recordFailedAttempt(ctx, o)))
      .catch((err) => ctx.log.error({ err, delivery_id: d.id }, "webhook delivery not recorded"))
      .finally(() => {
        inFlight.delete(out);
        // Finished deliveries wake one claim between them, not one each.
        wakeTimer ??= setTimeout(() => {
          wakeTimer = undefined;
          void run(false);
        }, COMPLETION_WAKE_MS);
      });
    inFlight.add(out);
  };
  const run = async (flush = true) => {
    if (stopped) return;
    flushWanted ||= flush;
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    try {
      do {
        again = false;
        if (flushWanted) {
          flushWanted = false;
          await flushDueBuffers(ctx);
        }
        while (!stopped && inFlight.size < MAX_IN_FLIGHT) {
          const wanted = Math.min(BATCH, MAX_IN_FLIGHT - inFlight.size);
          const due = await claimDueDeliveries(ctx, wanted);
          for (const d of due) deliver(d);
          if (due.length < wanted) break;
        }
      } while (again && !stopped);
    } catch (err) {
      ctx.log.error({ err }, "webhook dispatch failed");
    } finally {
      claiming = false;
    }
  };
  const unlisten = await ctx.db.listen(EVENTS_CHANNEL, (payload) => {
    // Events no webhook wants are announced for open inboxes only; buffers are looked at when an
    // event went into one (it may now be full); the poll covers the rest.
    const notice = JSON.parse(payload) as Pick<EventNotice, "dispatch" | "buffered">;
    if (notice.dispatch !== false) void run(notice.buffered !== false);
  });
  const timer = setInterval(() => void run(), POLL_MS);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await unlisten();
    while (claiming) await new Promise((r) => setTimeout(r, 20));
    await Promise.allSettled(inFlight);
    clearTimeout(wakeTimer);
  };
}
