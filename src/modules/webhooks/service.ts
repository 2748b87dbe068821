import { createHash } from "node:crypto";
import sql, { type Sql } from "sql-template-tag";
import type { Static } from "typebox";
import type { AppContext } from "../../context.ts";
import { purgeInBatches } from "../../db/purge.ts";
import { json } from "../../db/sql.ts";
import { EVENTS_CHANNEL } from "../../events/publish.ts";
import { invalid, notFound } from "../../http/errors.ts";
import {
  cursorPage,
  cursorQuery,
  limitOffset,
  type OffsetParams,
  offsetPage,
  whereAll,
} from "../../http/pagination.ts";
import { newSecret } from "../../security/secrets.ts";
import { DEFAULT_BUFFER_WINDOW_SECONDS, DEFAULT_MAX_BUFFER_SIZE } from "../../webhooks/buffer.ts";
import { releaseHeldDeliveries } from "../../webhooks/dispatcher.ts";
import { DEFAULT_INACTIVITY_MINUTES, INACTIVITY_EVENT } from "../../webhooks/inactivity.ts";
import {
  currentEventName,
  deliveryEventSql,
  type OutgoingDelivery,
  outgoing,
  whatsappConfigSql,
} from "../../webhooks/payload.ts";
import { findProjectPhoneNumber } from "../phone-numbers/store.ts";
import {
  BUFFERABLE_EVENTS,
  type ListDeliveriesFilters,
  type ListWebhooksFilters,
  PROJECT_EVENTS,
  WEBHOOK_EVENTS,
  type WebhookDelivery,
  type WebhookInput,
} from "./schemas.ts";

interface WebhookRow {
  id: string;
  project_id: string;
  phone_number_ref: string | null;
  phone_number_id: string | null;
  url: string;
  kind: "kapso" | "meta";
  events: string[];
  active: boolean;
  secret_key: string;
  headers: Record<string, string> | null;
  buffer_enabled: boolean;
  buffer_window_seconds: number | null;
  max_buffer_size: number | null;
  buffer_events: string[];
  inactivity_minutes: number | null;
  payload_version: string;
  paused_at: string | null;
  paused_reason: string | null;
  consecutive_failures: number;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

const SELECT = sql`
  SELECT w.*, pn.phone_number_id FROM webhooks w LEFT JOIN phone_numbers pn ON pn.id = w.phone_number_ref`;

const present = ({
  phone_number_ref: _ref,
  consecutive_failures: _n,
  failing_since: _since,
  ...w
}: WebhookRow) => ({ ...w, payload_version: w.kind === "meta" ? null : w.payload_version });

/** `phoneNumberId` null: the project-level API (any webhook); a string: that number's webhooks only. */
type Scope = { projectId: string; phoneNumberId: string | null };

async function numberRef(ctx: AppContext, projectId: string, phoneNumberId: string): Promise<string> {
  const number = await findProjectPhoneNumber(ctx.db, projectId, phoneNumberId);
  if (!number) throw notFound("Phone number");
  return number.id;
}

function scopeConditions(scope: Scope, ref: string | null): Sql[] {
  const c = [sql`w.project_id = ${scope.projectId}`];
  if (scope.phoneNumberId !== null) c.push(sql`w.phone_number_ref = ${ref}`);
  return c;
}

/**
 * Known events, allowed for the webhook's scope. The legacy names `whatsapp.config.created` and
 * `whatsapp.config.deleted` are accepted (kept as given) for the number lifecycle events.
 */
function checkEvents(events: string[], numberScoped: boolean): string[] {
  const unique = [...new Set(events)];
  for (const [i, event] of unique.entries()) {
    const current = currentEventName(event);
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(current)) {
      throw invalid(`whatsapp_webhook.events[${i}]`, `is not a supported event: ${event}`);
    }
    if (!numberScoped && !PROJECT_EVENTS.includes(current)) {
      throw invalid(
        `whatsapp_webhook.events[${i}]`,
        "needs phone_number_id: message and conversation events go to phone-number webhooks",
      );
    }
  }
  return unique;
}

function checkUrl(url: string | undefined): void {
  if (url !== undefined && !/^https?:\/\//i.test(url))
    throw invalid("whatsapp_webhook.url", "must be an http(s) URL");
}

export async function listWebhooks(
  ctx: AppContext,
  scope: Scope,
  q: ListWebhooksFilters,
  page: OffsetParams,
) {
  const ref =
    scope.phoneNumberId === null ? null : await numberRef(ctx, scope.projectId, scope.phoneNumberId);
  const c = scopeConditions(scope, ref);
  if (q.kind) c.push(sql`w.kind = ${q.kind}`);
  if (q.url_contains) c.push(sql`strpos(w.url, ${q.url_contains}) > 0`);
  if (q.active !== undefined) c.push(sql`w.active = ${q.active}`);
  if (q.created_after) c.push(sql`w.created_at > ${q.created_after}`);
  if (q.created_before) c.push(sql`w.created_at < ${q.created_before}`);
  const where = whereAll(c);
  const rows = await ctx.db.query<WebhookRow>(
    sql`${SELECT} WHERE ${where} ORDER BY w.created_at DESC, w.id DESC ${limitOffset(page)}`,
  );
  const [count] = await ctx.db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM webhooks w WHERE ${where}`,
  );
  return offsetPage(rows.map(present), count!.total, page);
}

async function requireWebhook(ctx: AppContext, scope: Scope, id: string): Promise<WebhookRow> {
  const ref =
    scope.phoneNumberId === null ? null : await numberRef(ctx, scope.projectId, scope.phoneNumberId);
  const [row] = await ctx.db.query<WebhookRow>(
    sql`${SELECT} WHERE ${whereAll([...scopeConditions(scope, ref), sql`w.id = ${id}`])}`,
  );
  if (!row) throw notFound("Webhook");
  return row;
}

export async function getWebhook(ctx: AppContext, scope: Scope, id: string) {
  return present(await requireWebhook(ctx, scope, id));
}

/** `events` of a `kapso` webhook: known, allowed for its scope, at least one. */
function kapsoEvents(events: string[] | undefined, numberScoped: boolean): string[] {
  const checked = checkEvents(events ?? [], numberScoped);
  if (checked.length === 0) throw invalid("whatsapp_webhook.events", "must name at least one event");
  return checked;
}

interface BufferSettings {
  buffer_enabled: boolean;
  buffer_window_seconds: number | null;
  max_buffer_size: number | null;
  buffer_events: string[];
}

/**
 * The buffering settings after `input` is applied to `current`. Only `whatsapp.message.received`
 * can be buffered, only by kapso webhooks of a number; turning buffering on fills in Kapso's
 * defaults (5 s window, 50 messages, the received event).
 */
function bufferSettings(input: WebhookInput, current: BufferSettings, kind: string, numberScoped: boolean) {
  const next: BufferSettings = {
    buffer_enabled: input.buffer_enabled ?? current.buffer_enabled,
    buffer_window_seconds:
      input.buffer_window_seconds === undefined ? current.buffer_window_seconds : input.buffer_window_seconds,
    max_buffer_size: input.max_buffer_size === undefined ? current.max_buffer_size : input.max_buffer_size,
    buffer_events:
      input.buffer_events === undefined ? current.buffer_events : [...new Set(input.buffer_events)],
  };
  for (const [i, event] of next.buffer_events.entries()) {
    if (!(BUFFERABLE_EVENTS as readonly string[]).includes(event))
      throw invalid(
        `whatsapp_webhook.buffer_events[${i}]`,
        `cannot be buffered: only ${BUFFERABLE_EVENTS.join(", ")}`,
      );
  }
  if (next.buffer_enabled) {
    if (kind === "meta")
      throw invalid("whatsapp_webhook.buffer_enabled", "is not available for meta webhooks");
    if (!numberScoped)
      throw invalid(
        "whatsapp_webhook.buffer_enabled",
        "needs phone_number_id: only message events can be buffered",
      );
    next.buffer_window_seconds ??= DEFAULT_BUFFER_WINDOW_SECONDS;
    next.max_buffer_size ??= DEFAULT_MAX_BUFFER_SIZE;
    if (next.buffer_events.length === 0) next.buffer_events = [...BUFFERABLE_EVENTS];
  }
  if (kind === "meta") next.buffer_events = [];
  return next;
}

/** `inactivity_minutes` defaults to 60 once the webhook subscribes to the inactivity event. */
function inactivityMinutes(events: string[], given: number | null | undefined, current: number | null) {
  const minutes = given === undefined ? current : given;
  return minutes ?? (events.includes(INACTIVITY_EVENT) ? DEFAULT_INACTIVITY_MINUTES : null);
}

/**
 * The stored payload version: `v2` unless `v1` is asked for (null means the default). A meta
 * webhook forwards Meta's payload, so whatever it is given it keeps `v2` (shown as null).
 */
function payloadVersion(kind: string, given: string | null | undefined): string {
  return kind === "kapso" && given === "v1" ? "v1" : "v2";
}

const unique = (err: unknown) => (err as { code?: string }).code === "23505";
const oneMetaWebhook = () =>
  invalid(
    "whatsapp_webhook.kind",
    "meta: this phone number already has a meta webhook (at most one per number)",
  );

/**
 * Creates a webhook. Phone-number webhooks need `secret_key` (Kapso never generates one for
 * them); project webhooks get a generated one when omitted. A `meta` webhook forwards Meta's
 * raw payloads for one number: it needs the number, takes no events (they are dropped) and
 * no buffering, and a number has at most one.
 */
export async function createWebhook(ctx: AppContext, scope: Scope, input: WebhookInput) {
  const phoneNumberId = scope.phoneNumberId ?? input.phone_number_id ?? null;
  const kind = input.kind ?? "kapso";
  if (!input.url) throw invalid("whatsapp_webhook.url", "is required");
  checkUrl(input.url);
  if (kind === "meta" && phoneNumberId === null)
    throw invalid("whatsapp_webhook.phone_number_id", "is required for meta webhooks");
  const ref = phoneNumberId === null ? null : await numberRef(ctx, scope.projectId, phoneNumberId);
  if (scope.phoneNumberId !== null && !input.secret_key)
    throw invalid("whatsapp_webhook.secret_key", "is required");
  const events = kind === "meta" ? [] : kapsoEvents(input.events, ref !== null);
  const buffer = bufferSettings(
    input,
    { buffer_enabled: false, buffer_window_seconds: null, max_buffer_size: null, buffer_events: [] },
    kind,
    ref !== null,
  );
  const inactivity = kind === "meta" ? null : inactivityMinutes(events, input.inactivity_minutes, null);
  let row: { id: string } | undefined;
  try {
    [row] = await ctx.db.query<{ id: string }>(sql`
      INSERT INTO webhooks (project_id, phone_number_ref, url, kind, events, active, secret_key, headers,
        inactivity_minutes, buffer_enabled, buffer_window_seconds, max_buffer_size, buffer_events, payload_version)
      VALUES (${scope.projectId}, ${ref}, ${input.url}, ${kind}, ${events}, ${input.active ?? true},
        ${input.secret_key ?? newSecret("wh_sec")}, ${input.headers ? json(input.headers) : null},
        ${inactivity}, ${buffer.buffer_enabled}, ${buffer.buffer_window_seconds}, ${buffer.max_buffer_size},
        ${buffer.buffer_events}, ${payloadVersion(kind, input.payload_version)})
      RETURNING id`);
  } catch (err) {
    if (unique(err)) throw oneMetaWebhook();
    throw err;
  }
  return getWebhook(ctx, { projectId: scope.projectId, phoneNumberId: null }, row!.id);
}

/**
 * Updates a webhook. `active: true` resumes a paused one: its failure streak is forgotten and
 * the deliveries it held go out at once.
 */
export async function updateWebhook(ctx: AppContext, scope: Scope, id: string, input: WebhookInput) {
  const existing = await requireWebhook(ctx, scope, id);
  checkUrl(input.url);
  if (input.kind !== undefined && input.kind !== existing.kind)
    throw invalid("whatsapp_webhook.kind", "cannot be changed after creation");
  const numberScoped = existing.phone_number_ref !== null;
  const events =
    existing.kind === "meta"
      ? []
      : input.events === undefined
        ? existing.events
        : kapsoEvents(input.events, numberScoped);
  const buffer = bufferSettings(input, existing, existing.kind, numberScoped);
  const inactivity =
    existing.kind === "meta"
      ? null
      : inactivityMinutes(events, input.inactivity_minutes, existing.inactivity_minutes);
  const resume = input.active === true && !existing.active;
  await ctx.db.transaction(async (tx) => {
    await tx.query(sql`
      UPDATE webhooks SET
        url = COALESCE(${input.url ?? null}, url),
        events = ${events},
        active = COALESCE(${input.active ?? null}::boolean, active),
        secret_key = COALESCE(${input.secret_key ?? null}, secret_key),
        headers = CASE WHEN ${input.headers !== undefined} THEN ${input.headers ? json(input.headers) : null}::jsonb ELSE headers END,
        inactivity_minutes = ${inactivity}::integer,
        buffer_enabled = ${buffer.buffer_enabled},
        buffer_window_seconds = ${buffer.buffer_window_seconds}::integer,
        max_buffer_size = ${buffer.max_buffer_size}::integer,
        buffer_events = ${buffer.buffer_events},
        payload_version = ${
          input.payload_version === undefined
            ? existing.payload_version
            : payloadVersion(existing.kind, input.payload_version)
        },
        paused_at = CASE WHEN ${input.active !== undefined} THEN NULL ELSE paused_at END,
        paused_reason = CASE WHEN ${input.active !== undefined} THEN NULL ELSE paused_reason END,
        consecutive_failures = CASE WHEN ${resume} THEN 0 ELSE consecutive_failures END,
        failing_since = CASE WHEN ${resume} THEN NULL ELSE failing_since END,
        updated_at = clock_timestamp()
      WHERE id = ${id}`);
    if (resume) await releaseHeldDeliveries(tx, id);
  });
  return getWebhook(ctx, scope, id);
}

/** Deletes a webhook; its deliveries still pending end as `failed` (they have nowhere to go). */
export async function deleteWebhook(ctx: AppContext, scope: Scope, id: string) {
  await requireWebhook(ctx, scope, id);
  await ctx.db.transaction(async (tx) => {
    await tx.query(sql`
      UPDATE webhook_deliveries SET status = 'failed', failed_at = clock_timestamp(), last_error = 'webhook deleted'
      WHERE webhook_id = ${id} AND status = 'pending'`);
    await tx.query(sql`DELETE FROM webhooks WHERE id = ${id}`);
  });
}

/** What a test delivery carries: a marked sample of the event, or for a meta webhook a Meta-shaped body. */
function testBody(webhook: WebhookRow, event: string): { event: string; payload: unknown } {
  const now = new Date();
  if (webhook.kind === "meta") {
    return {
      event: "meta.test",
      payload: {
        object: "whatsapp_business_account",
        entry: [
          {
            id: "0",
            changes: [
              {
                field: "test",
                value: {
                  messaging_product: "whatsapp",
                  metadata: { phone_number_id: webhook.phone_number_id },
                  test: true,
                  timestamp: String(Math.floor(now.getTime() / 1000)),
                },
              },
            ],
          },
        ],
      },
    };
  }
  return {
    event,
    payload: { test: true, event, phone_number_id: webhook.phone_number_id, occurred_at: now.toISOString() },
  };
}

/**
 * Queues a test delivery of `eventType` (default: the webhook's first event) to the webhook.
 * It goes out even while the webhook is paused, and when it succeeds on a webhook Parley
 * paused for failing, the webhook is resumed.
 */
export async function testWebhook(ctx: AppContext, scope: Scope, id: string, eventType: string | undefined) {
  const webhook = await requireWebhook(ctx, scope, id);
  // Stored under its v2 name, like every delivery; a v1 webhook gets it under the legacy one.
  const event = currentEventName(eventType ?? webhook.events[0] ?? "meta.test");
  if (webhook.kind === "kapso" && !webhook.events.map(currentEventName).includes(event))
    throw invalid("event_type", "must be one of the webhook's events");
  const test = testBody(webhook, event);
  const body = JSON.stringify(test.payload);
  await ctx.db.query(sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, body, idempotency_key, phone_number_ref, test)
    VALUES (${webhook.project_id}, ${webhook.id}, ${test.event}, ${json(test.payload)},
      ${webhook.kind === "meta" ? body : null},
      ${webhook.kind === "meta" ? createHash("sha256").update(body).digest("hex") : null},
      ${webhook.phone_number_ref}, true)`);
  await ctx.db.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, '{}')`);
  return { success: true };
}

const PERIOD_HOURS = { "24h": 24, "7d": 168, "30d": 720 } as const;

/**
 * The `WebhookDelivery` record (Kapso's fields) of `webhook_deliveries d`. `event` is the name
 * the webhook got it by (the legacy name for a v1 webhook).
 */
const SELECT_DELIVERY = sql`
  SELECT d.id, ${deliveryEventSql(sql`d`, sql`w`)} AS event, d.status, d.response_status, d.delivered_at,
         d.failed_at, d.last_attempt_at, d.attempt_count, d.created_at, d.webhook_id, w.url AS webhook_url,
         d.phone_number_ref AS whatsapp_config_id, pn.phone_number_id, ct.wa_id AS conversation_phone_number
  FROM webhook_deliveries d
  LEFT JOIN webhooks w ON w.id = d.webhook_id
  LEFT JOIN phone_numbers pn ON pn.id = d.phone_number_ref
  LEFT JOIN conversations v ON v.id = d.conversation_id
  LEFT JOIN contacts ct ON ct.id = v.contact_id`;

const REQUEST_BODY_LIMIT = 65_536;

async function requireDelivery(ctx: AppContext, projectId: string, id: string) {
  const [row] = await ctx.db.query<Static<typeof WebhookDelivery>>(sql`
    ${SELECT_DELIVERY} WHERE d.project_id = ${projectId} AND d.id = ${id}`);
  if (!row) throw notFound("Webhook delivery");
  return row;
}

/**
 * One delivery with what its attempts sent and got back (Parley's extra): the body every
 * attempt carries, and per attempt the URL, headers, the receiver's status and the start of its
 * answer (or the error), and the timing.
 */
export async function getDelivery(ctx: AppContext, projectId: string, id: string) {
  const record = await requireDelivery(ctx, projectId, id);
  const [extra] = await ctx.db.query<
    OutgoingDelivery & {
      idempotency_key: string;
      next_attempt_at: string | null;
      last_error: string | null;
      redelivered_at: string | null;
      batch_delivery_id: string | null;
      resent_as: string[];
    }
  >(sql`
    SELECT COALESCE(d.idempotency_key, d.id::text) AS idempotency_key,
      CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
      d.last_error, d.redelivered_at, d.batch_delivery_id,
      ARRAY(SELECT s.id FROM webhook_deliveries s WHERE s.batch_delivery_id = d.id ORDER BY s.seq) AS resent_as,
      d.event, d.body, d.payload, COALESCE(w.kind, 'kapso') AS kind, COALESCE(w.payload_version, 'v2') AS payload_version,
      ${whatsappConfigSql(sql`d`, sql`w`)} AS whatsapp_config
    FROM webhook_deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.id = ${id}`);
  const attempts = await ctx.db.query<{
    attempt: number;
    started_at: string;
    duration_ms: number;
    request_url: string;
    request_headers: Record<string, string>;
    response_status: number | null;
    response_body: string | null;
    error: string | null;
  }>(sql`
    SELECT attempt, started_at, duration_ms, request_url, request_headers, response_status, response_body, error
    FROM webhook_delivery_attempts WHERE delivery_id = ${id} ORDER BY attempt, started_at`);
  const d = extra!;
  const { body } = outgoing(d); // what the dispatcher sends
  return {
    ...record,
    idempotency_key: d.idempotency_key,
    next_attempt_at: d.next_attempt_at,
    last_error: d.last_error,
    redelivered_at: d.redelivered_at,
    batch_delivery_id: d.batch_delivery_id,
    resent_as: d.resent_as,
    request: { body: body.slice(0, REQUEST_BODY_LIMIT), body_truncated: body.length > REQUEST_BODY_LIMIT },
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      started_at: a.started_at,
      duration_ms: Math.round(a.duration_ms * 100) / 100,
      request: { url: a.request_url, headers: a.request_headers },
      response:
        a.response_status === null ? null : { status: a.response_status, body: a.response_body ?? "" },
      error: a.error,
    })),
  };
}

/**
 * Queues a delivery again (Parley's extra), whatever its status: it goes back to `pending`, due
 * at once, with the same body and `X-Idempotency-Key`, and then follows the usual rules (held
 * while its webhook is paused; retried on failure, one attempt when it is older than the retry
 * window). A delivery being attempted right now is left to that attempt.
 */
export async function redeliverDelivery(ctx: AppContext, projectId: string, id: string) {
  const record = await requireDelivery(ctx, projectId, id);
  if (record.webhook_id === null) throw invalid("delivery_id", "its webhook was deleted");
  await ctx.db.query(sql`
    UPDATE webhook_deliveries SET status = 'pending', failed_at = NULL,
      next_attempt_at = clock_timestamp(), redelivered_at = clock_timestamp()
    WHERE id = ${id} AND (locked_until IS NULL OR locked_until < clock_timestamp())`);
  await ctx.db.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, '{}')`);
  return requireDelivery(ctx, projectId, id);
}

export const PURGE_WEBHOOK_DELIVERIES_QUEUE = "purge-webhook-deliveries";

/**
 * Deletes finished deliveries (delivered or failed for good) created — and, when redelivered,
 * redelivered — more than `PARLEY_WEBHOOK_DELIVERY_RETENTION_DAYS` ago, in batches. Pending
 * ones stay, however old (a paused webhook's held deliveries). Returns how many went.
 */
export function purgeWebhookDeliveries(ctx: AppContext): Promise<number> {
  const cutoff = sql`clock_timestamp() - make_interval(days => ${ctx.config.webhookDeliveryRetentionDays})`;
  return purgeInBatches(
    ctx.db,
    (limit) => sql`
      DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status <> 'pending' AND created_at < ${cutoff}
          AND (redelivered_at IS NULL OR redelivered_at < ${cutoff})
        LIMIT ${limit})
      RETURNING id`,
  );
}

export async function listDeliveries(ctx: AppContext, projectId: string, q: ListDeliveriesFilters) {
  const params = { limit: q.limit ?? 20, before: q.before, after: q.after };
  const cursor = cursorQuery(params, { sql: sql`d.created_at`, name: "created_at", idSql: sql`d.id` });
  const c = [
    sql`d.project_id = ${projectId}`,
    sql`d.created_at > clock_timestamp() - make_interval(hours => ${PERIOD_HOURS[q.period ?? "24h"]})`,
    cursor.where,
  ];
  if (q.status) c.push(sql`d.status = ${q.status}`);
  if (q.errors_only) c.push(sql`d.status = 'failed'`);
  if (q.event) c.push(sql`d.event = ${currentEventName(q.event)}`);
  if (q.webhook_id) c.push(sql`d.webhook_id = ${q.webhook_id}`);
  const rows = await ctx.db.query<Static<typeof WebhookDelivery>>(sql`
    ${SELECT_DELIVERY} WHERE ${whereAll(c)} ${cursor.orderBy} ${cursor.limit}`);
  return cursorPage(rows, params, cursor.direction, (r) => ({
    column: "created_at",
    value: r.created_at,
    id: r.id,
  }));
}
