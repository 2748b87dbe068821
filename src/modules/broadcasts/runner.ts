import { randomUUID } from "node:crypto";
import { setTimeout as sleep, setImmediate as yieldToIo } from "node:timers/promises";
import sql from "sql-template-tag";
import type { AppContext } from "../../context.ts";
import { reserveRateSlots } from "../../db/rate-limits.ts";
import { json, recordset } from "../../db/sql.ts";
import type { Server } from "../../http/types.ts";
import { type SendMessageResult, sendMessage } from "../../messaging/send.ts";
import type { MetaError } from "../../whatsapp/graph-client.ts";
import type { MessageRow } from "../messages/store.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";
import {
  BROADCAST_COPY_QUEUE,
  BROADCAST_RUN_QUEUE,
  BROADCAST_START_QUEUE,
  COPY_STALE_SECONDS,
  queueCopy,
  queueRun,
  runCopy,
  startScheduledBroadcast,
} from "./service.ts";
import type { BroadcastRow, RecipientRow } from "./store.ts";
import { attemptKey, markRecipientsSent } from "./tracking.ts";

// The broadcast engine. A `broadcast-run` pg-boss job sends one broadcast: it takes the
// broadcast's lease (so one runner at a time, in any process), claims pending recipients in
// send order as the number's shared rate limit allows, and sends each through the one send
// path with the recipient's attempt key as idempotency key and `biz_opaque_callback_data`.
//
// At most once: a claimed recipient is `sending`; the key makes a repeated send of the same
// attempt a replay, never a second message. A runner that dies leaves `sending` recipients
// behind; the next runner settles them from the stored message of their attempt: none stored
// → never reached Meta, sent again under the same key; a wamid → sent; a refusal → failed;
// no answer → wait for Meta's status webhook, which carries the key and gives the message its
// wamid. A send still unanswered after `PARLEY_BROADCAST_UNCERTAIN_SECONDS` fails as
// `send_outcome_unknown` and is never sent again (Meta may have it; its status, if it comes,
// turns the recipient into a sent one).

export const BROADCAST_SWEEP_QUEUE = "broadcast-sweep";

const LEASE_SECONDS = 15;
const RENEW_MS = 3_000;
/** A run hands over to a fresh job after this long, so no job stays active for hours. */
const RUN_BUDGET_MS = 10 * 60_000;
/** How often a runner looks for recipients a dead runner left `sending`. */
const ORPHAN_CHECK_MS = 2_000;
/** Throttled sends of one recipient before it fails with Meta's throttling error. */
const MAX_THROTTLED_ATTEMPTS = 10;

/** Meta's throughput errors: slow down and retry the recipient later. */
const THROTTLE_CODES = new Set([4, 80007, 130429, 131048, 131056]);
/**
 * Errors that no recipient can get past (the template is gone or paused, the number or its
 * token is unusable): the broadcast fails and its pending recipients stay pending.
 */
const FATAL_CODES = new Set([10, 190, 200, 368, 131031, 131042, 132001, 132015, 132016, 133010]);

const STOPPED_DETAIL = "The contact has stopped marketing messages from this number";

interface Sender {
  ctx: AppContext;
  broadcast: BroadcastRow;
  number: PhoneNumberRow;
  runnerId: string;
  /** Recipients this runner is sending right now. */
  inFlight: Map<string, Promise<void>>;
  /** Sends per second this runner aims at (lowered by throttling, recovering over time). */
  pace: number;
  lastThrottleAt: number;
  /** Set when the broadcast must stop sending (failed, or the lease was lost). */
  halted: boolean;
}

async function acquireLease(ctx: AppContext, broadcastId: string, runnerId: string): Promise<boolean> {
  const rows = await ctx.db.query(sql`
    UPDATE broadcasts SET runner_id = ${runnerId},
      lease_until = clock_timestamp() + make_interval(secs => ${LEASE_SECONDS})
    WHERE id = ${broadcastId}
      AND (runner_id IS NULL OR lease_until IS NULL OR lease_until < clock_timestamp() OR runner_id = ${runnerId})
    RETURNING id`);
  return rows.length > 0;
}

async function renewLease(ctx: AppContext, broadcastId: string, runnerId: string): Promise<boolean> {
  const rows = await ctx.db.query(sql`
    UPDATE broadcasts SET lease_until = clock_timestamp() + make_interval(secs => ${LEASE_SECONDS})
    WHERE id = ${broadcastId} AND runner_id = ${runnerId}
    RETURNING id`);
  return rows.length > 0;
}

async function releaseLease(ctx: AppContext, broadcastId: string, runnerId: string): Promise<void> {
  await ctx.db.query(sql`
    UPDATE broadcasts SET runner_id = NULL, lease_until = NULL
    WHERE id = ${broadcastId} AND runner_id = ${runnerId}`);
}

/** Seconds until another runner's lease on the broadcast ends (0 when none holds it). */
async function leaseRemaining(ctx: AppContext, broadcastId: string): Promise<number> {
  const [row] = await ctx.db.query<{ left: number | null }>(sql`
    SELECT extract(epoch FROM lease_until - clock_timestamp())::float8 AS left
    FROM broadcasts WHERE id = ${broadcastId}`);
  return Math.max(0, Number(row?.left ?? 0));
}

async function loadBroadcast(ctx: AppContext, broadcastId: string) {
  const [broadcast] = await ctx.db.query<BroadcastRow>(sql`
    SELECT b.*, p.phone_number_id FROM broadcasts b JOIN phone_numbers p ON p.id = b.phone_number_ref
    WHERE b.id = ${broadcastId}`);
  if (!broadcast) return undefined;
  const [number] = await ctx.db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE id = ${broadcast.phone_number_ref}`,
  );
  return number ? { broadcast, number } : undefined;
}

async function currentStatus(ctx: AppContext, broadcastId: string): Promise<string | undefined> {
  const [row] = await ctx.db.query<{ status: string }>(
    sql`SELECT status FROM broadcasts WHERE id = ${broadcastId}`,
  );
  return row?.status;
}

/** Claims up to `n` pending recipients in send order, only while this runner holds the lease. */
async function claim(s: Sender, n: number): Promise<RecipientRow[]> {
  return s.ctx.db.query<RecipientRow>(sql`
    UPDATE broadcast_recipients SET status = 'sending', runner_id = ${s.runnerId},
      claimed_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE id IN (
      SELECT id FROM broadcast_recipients
      WHERE broadcast_id = ${s.broadcast.id} AND status = 'pending'
        AND (retry_at IS NULL OR retry_at <= clock_timestamp())
      ORDER BY position LIMIT ${n}
      FOR UPDATE SKIP LOCKED)
    AND EXISTS (
      SELECT 1 FROM broadcasts
      WHERE id = ${s.broadcast.id} AND status = 'sending' AND runner_id = ${s.runnerId})
    RETURNING *`);
}

/** Marketing templates skip contacts who stopped marketing messages on this number. */
async function suppress(s: Sender, recipients: RecipientRow[]): Promise<RecipientRow[]> {
  if (s.broadcast.template.category.toUpperCase() !== "MARKETING" || recipients.length === 0)
    return recipients;
  const stopped = await s.ctx.db.query<{ wa_id: string }>(sql`
    SELECT c.wa_id FROM marketing_preferences mp JOIN contacts c ON c.id = mp.contact_id
    WHERE mp.phone_number_ref = ${s.number.id} AND mp.status = 'stopped'
      AND c.wa_id = ANY(${recipients.map((r) => r.phone_number)}::text[])`);
  if (stopped.length === 0) return recipients;
  const waIds = new Set(stopped.map((r) => r.wa_id));
  const suppressed = recipients.filter((r) => waIds.has(r.phone_number));
  await markSuppressed(
    s,
    suppressed.map((r) => r.id),
  );
  return recipients.filter((r) => !waIds.has(r.phone_number));
}

async function markSuppressed(s: Sender, ids: string[]): Promise<void> {
  await s.ctx.db.query(sql`
    UPDATE broadcast_recipients SET status = 'suppressed', error_message = ${STOPPED_DETAIL},
      error_details = ${json({ code: "marketing_preference_stopped", detail: STOPPED_DETAIL })},
      updated_at = clock_timestamp()
    WHERE id = ANY(${ids}::uuid[]) AND status = 'sending'`);
}

function templateBody(s: Sender, r: RecipientRow, key: string): Record<string, unknown> {
  const t = s.broadcast.template;
  return {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: r.phone_number,
    type: "template",
    template: {
      name: t.name,
      language: { code: t.language_code },
      ...(r.components.length ? { components: r.components } : {}),
    },
    biz_opaque_callback_data: key,
  };
}

/** A recipient's `error_details` from Meta's error object of a refused send. */
function refusalDetails(error: MetaError | undefined, httpStatus: number): Record<string, unknown> {
  const details = (error?.error_data as { details?: unknown } | undefined)?.details;
  return {
    error_class: "WhatsappApiError",
    ...(error?.code !== undefined ? { code: error.code } : {}),
    ...(error?.message ? { message: error.message } : {}),
    ...(typeof details === "string" ? { details } : {}),
    http_status: httpStatus,
    ...(error?.fbtrace_id ? { fbtrace_id: error.fbtrace_id } : {}),
  };
}

async function markFailed(s: Sender, r: RecipientRow, details: Record<string, unknown>, messageId?: string) {
  const message = typeof details.message === "string" ? details.message : String(details.code ?? "failed");
  await s.ctx.db.query(sql`
    UPDATE broadcast_recipients SET status = 'failed', failed_at = clock_timestamp(),
      message_id = coalesce(${messageId ?? null}::uuid, message_id),
      error_message = ${message}, error_details = ${json(details)}, updated_at = clock_timestamp()
    WHERE id = ${r.id} AND status = 'sending'`);
}

/** Back to pending under a new attempt (the last one certainly did not send), after `delayMs`. */
async function requeue(s: Sender, r: RecipientRow, delayMs: number) {
  await s.ctx.db.query(sql`
    UPDATE broadcast_recipients SET status = 'pending', attempts = attempts + 1,
      retry_at = clock_timestamp() + make_interval(secs => ${delayMs / 1000}), runner_id = NULL,
      updated_at = clock_timestamp()
    WHERE id = ${r.id} AND status = 'sending'`);
}

async function failBroadcast(s: Sender, error: Record<string, unknown>) {
  s.halted = true;
  await s.ctx.db.query(sql`
    UPDATE broadcasts SET status = 'failed', error = ${json(error)}, completed_at = clock_timestamp(),
      updated_at = clock_timestamp()
    WHERE id = ${s.broadcast.id} AND status = 'sending'`);
  s.ctx.log.warn({ broadcast_id: s.broadcast.id, error }, "broadcast failed");
}

function throttled(s: Sender) {
  s.lastThrottleAt = Date.now();
  s.pace = Math.max(1, Math.floor(s.pace / 2));
}

/** Records what the send of `r` came to. */
async function settle(s: Sender, r: RecipientRow, result: SendMessageResult): Promise<void> {
  // Meta's answer: `sendMessage` marked the recipient sent as it recorded the wamid.
  if (result.wamid) return;
  // No answer from Meta: the recipient stays `sending` until the orphan check settles it.
  if (result.outcomeUnknown) return;
  const error = (result.body as { error?: MetaError } | undefined)?.error;
  const code = error?.code as number | string | undefined;
  if (code === "marketing_preference_stopped") return markSuppressed(s, [r.id]);
  if (typeof code === "number" && THROTTLE_CODES.has(code)) {
    throttled(s);
    if (r.attempts + 1 < MAX_THROTTLED_ATTEMPTS) {
      // Meta allows one message to a user every 6 s (131056); other limits lift within seconds.
      return requeue(s, r, code === 131056 ? 6_000 : 1_000 + Math.random() * 2_000);
    }
  }
  const details = refusalDetails(error, result.status);
  await markFailed(s, r, details, result.messageId);
  if (typeof code === "number" && FATAL_CODES.has(code)) await failBroadcast(s, details);
}

async function sendOne(s: Sender, r: RecipientRow): Promise<void> {
  const key = attemptKey(r.id, r.attempts);
  try {
    const result = await sendMessage(s.ctx, {
      projectId: s.broadcast.project_id,
      phoneNumber: s.number,
      body: templateBody(s, r, key),
      idempotencyKey: key,
      origin: "broadcast",
      checkedByCaller: true,
    });
    await settle(s, r, result);
  } catch (err) {
    // The database failed us mid-send: the recipient stays `sending` for the orphan check.
    s.ctx.log.error({ err, broadcast_id: s.broadcast.id, recipient_id: r.id }, "broadcast send failed");
  }
}

interface AttemptMessage {
  id: string;
  wamid: string | null;
  status: MessageRow["status"];
  error: Record<string, unknown> | null;
  age_seconds: number;
}

/**
 * Settles recipients left `sending` by a runner that is gone (or by a send whose outcome is
 * unknown), from the stored message of their current attempt.
 */
async function settleOrphans(s: Sender): Promise<void> {
  const orphans = (
    await s.ctx.db.query<RecipientRow>(sql`
      SELECT * FROM broadcast_recipients
      WHERE broadcast_id = ${s.broadcast.id} AND status = 'sending'
      ORDER BY position LIMIT 1000`)
  ).filter((r) => !s.inFlight.has(r.id));
  const window = s.ctx.config.broadcastUncertainSeconds;
  for (const r of orphans) {
    const key = attemptKey(r.id, r.attempts);
    const [m] = await s.ctx.db.query<AttemptMessage>(sql`
      SELECT m.id, m.wamid, m.status, m.error,
        extract(epoch FROM clock_timestamp() - m.created_at)::float8 AS age_seconds
      FROM messages m WHERE m.phone_number_ref = ${s.number.id} AND m.idempotency_key = ${key}`);
    if (!m) {
      // Never stored, so never sent: back to pending under the same key.
      await s.ctx.db.query(sql`
        UPDATE broadcast_recipients SET status = 'pending', runner_id = NULL, updated_at = clock_timestamp()
        WHERE id = ${r.id} AND status = 'sending'`);
    } else if (m.wamid) {
      await s.ctx.db.query(
        markRecipientsSent(
          recordset(
            [{ recipient_id: r.id, message_id: m.id, wamid: m.wamid }],
            sql`recipient_id uuid, message_id uuid, wamid text`,
          ),
        ),
      );
    } else if (m.status === "failed") {
      const stored = m.error as { http_status?: number; error?: MetaError } | null;
      await settle(s, r, {
        status: stored?.http_status ?? 400,
        body: { error: stored?.error },
        messageId: m.id,
      });
    } else if (m.age_seconds > window) {
      // Meta may have sent it and its status may still come (it then turns the recipient
      // into a sent one); sending again could make a duplicate, so it is not sent again.
      await markFailed(
        s,
        r,
        {
          code: "send_outcome_unknown",
          detail:
            "The send was cut off before Meta answered and no status has come for it; it is not sent again, to rule out a duplicate",
        },
        m.id,
      );
    }
  }
}

async function hasClaimable(s: Sender): Promise<boolean> {
  const [row] = await s.ctx.db.query<{ found: boolean }>(sql`
    SELECT EXISTS (
      SELECT 1 FROM broadcast_recipients
      WHERE broadcast_id = ${s.broadcast.id} AND status = 'pending'
        AND (retry_at IS NULL OR retry_at <= clock_timestamp())) AS found`);
  return row!.found;
}

/**
 * Waits `ms`, or less when a send in flight finishes first. Always a real timer: the loop must
 * yield to I/O, since embedded PGlite answers queries without any (the sandbox's answers to the
 * sends in flight arrive over this very process's HTTP server).
 */
async function pause(s: Sender, ms: number, signal: AbortSignal): Promise<void> {
  const timer = sleep(ms, undefined, { signal }).catch(() => undefined);
  await Promise.race([timer, ...s.inFlight.values()]);
  await yieldToIo();
}

/** Completes the broadcast when no recipient is left to send. */
async function tryComplete(s: Sender): Promise<boolean> {
  const rows = await s.ctx.db.query(sql`
    UPDATE broadcasts SET status = 'completed', completed_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE id = ${s.broadcast.id} AND status = 'sending' AND NOT EXISTS (
      SELECT 1 FROM broadcast_recipients WHERE broadcast_id = ${s.broadcast.id} AND status IN ('pending', 'sending'))
    RETURNING id`);
  return rows.length > 0;
}

/**
 * At most this many sends of one runner wait for Meta at once, by database engine. More sends in
 * flight make bigger group-commit batches, so fewer statements per send: on PostgreSQL, 64 →
 * 256 took 10,000 recipients at 1,000/s from 22.3 s to 15.3 s (bench/README.md).
 */
export const MAX_IN_FLIGHT = { pglite: 8, postgres: 256 } as const;

const maxInFlight = (ctx: AppContext) => MAX_IN_FLIGHT[ctx.db.engine];

/**
 * Sends broadcast `broadcastId` until it completes, stops or fails, or the run's time budget
 * ends (a new run is queued then). Returns without sending when another runner holds it.
 */
export async function runBroadcast(ctx: AppContext, broadcastId: string, signal: AbortSignal): Promise<void> {
  const runnerId = randomUUID();
  let acquired = await acquireLease(ctx, broadcastId, runnerId);
  if (!acquired) {
    // A restarted process finds its dead predecessor's lease: wait it out once.
    const left = await leaseRemaining(ctx, broadcastId);
    if (left > LEASE_SECONDS + 1) return;
    await sleep(left * 1000 + 250, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return;
    acquired = await acquireLease(ctx, broadcastId, runnerId);
    if (!acquired) return;
  }
  const loaded = await loadBroadcast(ctx, broadcastId);
  if (!loaded) return;
  const s: Sender = {
    ctx,
    ...loaded,
    runnerId,
    inFlight: new Map(),
    pace: ctx.config.sendRatePerSecond,
    lastThrottleAt: 0,
    halted: false,
  };
  const renewal = setInterval(() => {
    renewLease(ctx, broadcastId, runnerId)
      .then((held) => {
        if (!held) s.halted = true;
      })
      .catch((err) => ctx.log.warn({ err, broadcast_id: broadcastId }, "broadcast lease renewal failed"));
  }, RENEW_MS);
  const started = Date.now();
  let lastOrphanCheck = 0;
  let shortClaim = false;
  let handOver = false;
  try {
    while (!signal.aborted && !s.halted) {
      await yieldToIo();
      const status = await currentStatus(ctx, broadcastId);
      if (Date.now() - lastOrphanCheck > ORPHAN_CHECK_MS) {
        lastOrphanCheck = Date.now();
        await settleOrphans(s);
      }
      if (status !== "sending") break;
      if (Date.now() - started > RUN_BUDGET_MS) {
        handOver = true;
        break;
      }
      // Throttling halves the pace; every five quiet seconds bring it back up by half.
      if (s.pace < ctx.config.sendRatePerSecond && Date.now() - s.lastThrottleAt > 5_000) {
        s.pace = Math.min(ctx.config.sendRatePerSecond, Math.ceil(s.pace * 1.5));
        s.lastThrottleAt = Date.now();
      }
      // Claims wait for a quarter of the sends in flight to finish: claimed together, sends are
      // stored, answered and marked sent together (group commit), and claims are fewer.
      const room = maxInFlight(ctx) - s.inFlight.size;
      if (room < maxInFlight(ctx) / 4) {
        while (maxInFlight(ctx) - s.inFlight.size < maxInFlight(ctx) / 4)
          await Promise.race(s.inFlight.values());
        continue;
      }
      // After a claim came up short, slots are taken only once there is something to send:
      // they are the number's, shared with every other send.
      if (shortClaim && !(await hasClaimable(s))) {
        await pause(s, 250, signal);
        shortClaim = false;
        continue;
      }
      const slots = await reserveRateSlots(ctx.db, `send:${s.number.id}`, s.pace, room);
      const claimed = slots.granted > 0 ? await claim(s, slots.granted) : [];
      shortClaim = slots.granted > 0 && claimed.length < slots.granted;
      for (const r of await suppress(s, claimed)) {
        const send = sendOne(s, r).finally(() => s.inFlight.delete(r.id));
        s.inFlight.set(r.id, send);
      }
      if (claimed.length === 0 && s.inFlight.size === 0 && (await tryComplete(s))) break;
      if (slots.granted < room || claimed.length === 0) {
        // This second's share is used up, or nothing can be sent now (the rest is in flight,
        // waits for a throttling retry, or is an orphan being settled).
        await pause(s, slots.granted < room ? slots.nextWindowMs : 250, signal);
      }
    }
  } finally {
    await Promise.allSettled(s.inFlight.values());
    clearInterval(renewal);
    await releaseLease(ctx, broadcastId, runnerId);
    if (handOver && !signal.aborted) await queueRun(ctx, broadcastId);
  }
}

/**
 * Queues runs for what needs one and has no live runner: sending broadcasts, and stopped or
 * failed ones with recipients still `sending` (to settle them); starts scheduled broadcasts
 * whose start job was lost; runs again the copies no job has advanced for a minute (at start:
 * every copy; a second copy job is harmless). Runs at start and every minute.
 */
export async function sweepBroadcasts(ctx: AppContext, options: { atStart?: boolean } = {}): Promise<void> {
  // At start, a lease may still be running out: that of this process's own dead predecessor.
  const grace = options.atStart ? LEASE_SECONDS : 0;
  const orphaned = await ctx.db.query<{ id: string }>(sql`
    SELECT b.id FROM broadcasts b
    WHERE (b.lease_until IS NULL OR b.lease_until < clock_timestamp() + make_interval(secs => ${grace}))
      AND (b.status = 'sending' OR (b.status IN ('stopped', 'failed') AND EXISTS (
        SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = b.id AND r.status = 'sending')))`);
  for (const { id } of orphaned) await queueRun(ctx, id);
  const due = await ctx.db.query<{ id: string; scheduled_at: string }>(sql`
    SELECT id, scheduled_at FROM broadcasts
    WHERE status = 'scheduled' AND scheduled_at < clock_timestamp() - interval '1 minute'`);
  for (const b of due) await startScheduledBroadcast(ctx, b.id, b.scheduled_at);
  const staleCopies = await ctx.db.query<{ id: string }>(sql`
    SELECT id FROM broadcasts
    WHERE status = 'copying'
      AND updated_at < clock_timestamp() - make_interval(secs => ${options.atStart ? 0 : COPY_STALE_SECONDS})`);
  for (const { id } of staleCopies) await queueCopy(ctx, id);
}

/** Starts this process's broadcast workers with the server, and stops them before it closes. */
export function registerBroadcastEngine(app: Server, ctx: AppContext): void {
  const shutdown = new AbortController();
  app.addHook("onReady", async () => {
    await ctx.jobs.createQueue(BROADCAST_RUN_QUEUE);
    await ctx.jobs.createQueue(BROADCAST_START_QUEUE);
    await ctx.jobs.createQueue(BROADCAST_SWEEP_QUEUE);
    await ctx.jobs.createQueue(BROADCAST_COPY_QUEUE);
    await ctx.jobs.work<{ broadcast_id: string }>(
      BROADCAST_RUN_QUEUE,
      { pollingIntervalSeconds: 1, localConcurrency: 4 },
      async (jobs) => {
        for (const job of jobs) await runBroadcast(ctx, job.data.broadcast_id, shutdown.signal);
      },
    );
    await ctx.jobs.work<{ broadcast_id: string; scheduled_at: string }>(
      BROADCAST_START_QUEUE,
      { pollingIntervalSeconds: 1 },
      async (jobs) => {
        for (const job of jobs)
          await startScheduledBroadcast(ctx, job.data.broadcast_id, job.data.scheduled_at);
      },
    );
    await ctx.jobs.work<{ broadcast_id: string }>(
      BROADCAST_COPY_QUEUE,
      { pollingIntervalSeconds: 1 },
      async (jobs) => {
        for (const job of jobs) await runCopy(ctx, job.data.broadcast_id, shutdown.signal);
      },
    );
    await ctx.jobs.work(BROADCAST_SWEEP_QUEUE, async () => sweepBroadcasts(ctx));
    await ctx.jobs.schedule(BROADCAST_SWEEP_QUEUE, "* * * * *");
    await sweepBroadcasts(ctx, { atStart: true });
  });
  // Before the server stops answering: in-flight sends (to the sandbox too) finish and are recorded.
  app.addHook("preClose", async () => {
    shutdown.abort();
    await ctx.jobs.offWork(BROADCAST_RUN_QUEUE, { wait: true });
    await ctx.jobs.offWork(BROADCAST_START_QUEUE);
    await ctx.jobs.offWork(BROADCAST_SWEEP_QUEUE);
    await ctx.jobs.offWork(BROADCAST_COPY_QUEUE, { wait: true });
  });
}
