import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Job } from "pg-boss";
import { request as httpRequest } from "undici";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { inTransaction } from "../jobs/boss.ts";
import { sandboxAppSecret, signMetaPayload } from "../whatsapp/webhook-signature.ts";
import { DEFAULT_SANDBOX_WABA, sandboxDisplayNumber } from "./numbers.ts";
import { findKnownNumber } from "./store.ts";

/** The queue of status webhooks the sandbox owes Parley's receiver after accepted sends. */
export const SANDBOX_STATUS_QUEUE = "sandbox-status-webhooks";

/** Meta's `errors[]` item on a failed status. */
export interface StatusError {
  code: number;
  title: string;
  message: string;
  error_data?: { details: string };
  href?: string;
}

export interface StatusJob {
  phone_number_id: string;
  wamid: string;
  recipient: string;
  /** Pricing category: `service` for free-form replies, the template's category otherwise. */
  category: string;
  /** Set when an async failure was injected: the only status posted is `failed`. */
  failure?: StatusError;
  /** Echoed on every status, as Meta echoes the send's `biz_opaque_callback_data`. */
  biz_opaque_callback_data?: string;
}

/** The `metadata` and WABA under which Meta would report events of a number. */
export async function numberEnvelope(db: Queryable, phoneNumberId: string) {
  const known = await findKnownNumber(db, phoneNumberId);
  return {
    wabaId: known?.business_account_id ?? DEFAULT_SANDBOX_WABA,
    production: known?.kind === "production",
    metadata: {
      display_phone_number: sandboxDisplayNumber(phoneNumberId).replace(/\D/g, ""),
      phone_number_id: phoneNumberId,
    },
  };
}

/** Meta's webhook body: one entry for the WABA, one change of `field` with `value`. */
export function webhookBody(wabaId: string, value: Record<string, unknown>, field = "messages") {
  return {
    object: "whatsapp_business_account",
    entry: [{ id: wabaId, changes: [{ value, field }] }],
  };
}

export interface PostResult {
  status: number;
  body: string;
}

/**
 * Posts a Meta-format webhook to Parley's receiver (or `PARLEY_SANDBOX_WEBHOOK_URL`), signed
 * as Meta signs it. A number connected as `production` (the sandbox standing in for Meta
 * through `META_GRAPH_URL`) is signed with the configured Meta app secret, a sandbox number
 * with the sandbox's own secret — the one each kind's receiver checks.
 */
export async function postWebhook(
  ctx: AppContext,
  phoneNumberId: string,
  value: Record<string, unknown>,
  field = "messages",
): Promise<PostResult> {
  const envelope = await numberEnvelope(ctx.db, phoneNumberId);
  const body = JSON.stringify(
    webhookBody(
      envelope.wabaId,
      { messaging_product: "whatsapp", metadata: envelope.metadata, ...value },
      field,
    ),
  );
  const secret =
    envelope.production && ctx.config.meta.appSecret
      ? ctx.config.meta.appSecret
      : await sandboxAppSecret(ctx.db);
  const url = ctx.config.sandboxWebhookUrl ?? `${ctx.selfUrl}/webhooks/whatsapp`;
  const response = await httpRequest(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signMetaPayload(secret, body) },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.statusCode, body: await response.body.text() };
}

const unixSeconds = () => String(Math.floor(Date.now() / 1000));

/** One of Meta's `statuses[]` items. */
export function statusObject(job: StatusJob, status: "sent" | "delivered" | "read" | "failed") {
  const base = {
    id: job.wamid,
    status,
    timestamp: unixSeconds(),
    recipient_id: job.recipient,
    ...(job.biz_opaque_callback_data ? { biz_opaque_callback_data: job.biz_opaque_callback_data } : {}),
  };
  if (status === "failed") return { ...base, errors: [job.failure] };
  const service = job.category === "service";
  // One conversation per number, recipient and day, as Meta's 24-hour conversations behave.
  const day = Math.floor(Date.now() / 86_400_000);
  const conversationId = createHash("sha256")
    .update(`${job.phone_number_id}:${job.recipient}:${day}`)
    .digest("hex")
    .slice(0, 32);
  return {
    ...base,
    conversation: {
      id: conversationId,
      ...(status === "sent" ? { expiration_timestamp: String((day + 1) * 86_400) } : {}),
      origin: { type: job.category },
    },
    pricing: {
      billable: !service,
      pricing_model: "PMP",
      category: job.category,
      type: service ? "free_customer_service" : "regular",
    },
  };
}

/**
 * Schedules the status webhooks of accepted sends, one job each (the worker batches them per
 * number), in one insert through the caller's transaction.
 */
export async function enqueueStatuses(ctx: AppContext, tx: Queryable, jobs: StatusJob[]): Promise<void> {
  await ctx.jobs.insert(
    SANDBOX_STATUS_QUEUE,
    jobs.map((data) => ({
      data,
      retryLimit: 5,
      retryDelay: 1,
      retryBackoff: true,
      retryDelayMax: 60,
      // A worker killed mid-job leaves it active; it is retried after this (a repeated status is
      // harmless: statuses only move forward).
      expireInSeconds: 30,
    })),
    inTransaction(tx),
  );
}

class ReceiverUnavailable extends Error {}

/**
 * Posts one webhook with `statuses` for `phoneNumberId` (Meta, too, batches several updates
 * into one notification). False when the receiver refused it for good.
 */
async function deliver(ctx: AppContext, phoneNumberId: string, statuses: Record<string, unknown>[]) {
  let result: PostResult;
  try {
    result = await postWebhook(ctx, phoneNumberId, { statuses });
  } catch (err) {
    throw new ReceiverUnavailable(`webhook receiver unreachable: ${(err as Error).message}`);
  }
  // A 5xx is worth retrying (the jobs run again; the receiver only moves statuses forward, so
  // a repeated `sent` is harmless). A 4xx will not get better by repeating.
  if (result.status >= 500) throw new ReceiverUnavailable(`webhook receiver answered ${result.status}`);
  if (result.status >= 400) {
    ctx.log.warn({ status: result.status, phone_number_id: phoneNumberId }, "sandbox status webhook refused");
    return false;
  }
  return true;
}

/**
 * The statuses of a batch of accepted sends to one number: `sent`, `delivered` and `read`
 * (`sandboxStatusDelayMs` apart), each step one webhook for every send of the batch; a send
 * with an injected failure gets `failed` in the first step and nothing after.
 */
async function runStatusJobs(ctx: AppContext, phoneNumberId: string, jobs: StatusJob[]): Promise<void> {
  const failing = jobs.filter((job) => job.failure);
  const succeeding = jobs.filter((job) => !job.failure);
  const steps = ["sent", "delivered", "read"] as const;
  for (const [index, status] of steps.entries()) {
    if (index > 0) await sleep(ctx.config.sandboxStatusDelayMs);
    const statuses = [
      ...(index === 0 ? failing.map((job) => statusObject(job, "failed")) : []),
      ...succeeding.map((job) => statusObject(job, status)),
    ];
    if (statuses.length === 0 || !(await deliver(ctx, phoneNumberId, statuses))) return;
  }
}

/**
 * Starts this process's worker for the sandbox's status webhooks. It takes queued sends in
 * batches and reports each number's batch together, so a burst of sends costs a few webhooks
 * rather than three each.
 */
export async function startSandboxWorker(ctx: AppContext): Promise<void> {
  await ctx.jobs.createQueue(SANDBOX_STATUS_QUEUE);
  await ctx.jobs.work<StatusJob>(
    SANDBOX_STATUS_QUEUE,
    { pollingIntervalSeconds: 0.5, localConcurrency: 4, batchSize: 100, burstWhenBatchFull: true },
    async (jobs: Job<StatusJob>[]) => {
      const byNumber = Map.groupBy(
        jobs.map((job) => job.data),
        (job) => job.phone_number_id,
      );
      await Promise.all([...byNumber].map(([id, numberJobs]) => runStatusJobs(ctx, id, numberJobs)));
    },
  );
}

export async function stopSandboxWorker(ctx: AppContext): Promise<void> {
  await ctx.jobs.offWork(SANDBOX_STATUS_QUEUE);
}
