import sql, { type Sql } from "sql-template-tag";
import type { Static } from "typebox";
import type { AppContext } from "../../context.ts";
import { json } from "../../db/sql.ts";
import { invalid, notFound, unprocessable } from "../../http/errors.ts";
import {
  cursorPage,
  cursorQuery,
  limitOffset,
  type OffsetParams,
  offsetPage,
  whereAll,
} from "../../http/pagination.ts";
import { newSecret } from "../../security/secrets.ts";
import { findProjectPhoneNumber } from "../phone-numbers/store.ts";
import {
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
  created_at: string;
  updated_at: string;
}

const SELECT = sql`
  SELECT w.*, pn.phone_number_id FROM webhooks w LEFT JOIN phone_numbers pn ON pn.id = w.phone_number_ref`;

const present = ({ phone_number_ref: _ref, ...w }: WebhookRow) => w;

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

function checkEvents(events: string[], numberScoped: boolean): string[] {
  const unique = [...new Set(events)];
  for (const [i, event] of unique.entries()) {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
      throw invalid(`whatsapp_webhook.events[${i}]`, `is not a supported event: ${event}`);
    }
    if (!numberScoped && !PROJECT_EVENTS.includes(event)) {
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

/**
 * Creates a webhook. Phone-number webhooks need `secret_key` (Kapso never generates one for
 * them); project webhooks get a generated one when omitted. `meta`-kind forwarding is not built.
 */
export async function createWebhook(ctx: AppContext, scope: Scope, input: WebhookInput) {
  const phoneNumberId = scope.phoneNumberId ?? input.phone_number_id ?? null;
  const ref = phoneNumberId === null ? null : await numberRef(ctx, scope.projectId, phoneNumberId);
  if (!input.url) throw invalid("whatsapp_webhook.url", "is required");
  checkUrl(input.url);
  if ((input.kind ?? "kapso") === "meta")
    throw unprocessable(
      "whatsapp_webhook.kind meta (raw Meta payload forwarding) is not supported by this server",
    );
  if (scope.phoneNumberId !== null && !input.secret_key)
    throw invalid("whatsapp_webhook.secret_key", "is required");
  const events = checkEvents(input.events ?? [], ref !== null);
  if (events.length === 0) throw invalid("whatsapp_webhook.events", "must name at least one event");
  if (input.buffer_enabled)
    throw unprocessable("whatsapp_webhook.buffer_enabled: buffering is not supported by this server");
  const [row] = await ctx.db.query<{ id: string }>(sql`
    INSERT INTO webhooks (project_id, phone_number_ref, url, events, active, secret_key, headers, inactivity_minutes)
    VALUES (${scope.projectId}, ${ref}, ${input.url}, ${events}, ${input.active ?? true},
      ${input.secret_key ?? newSecret("wh_sec")}, ${input.headers ? json(input.headers) : null},
      ${input.inactivity_minutes ?? null})
    RETURNING id`);
  return getWebhook(ctx, { projectId: scope.projectId, phoneNumberId: null }, row!.id);
}

export async function updateWebhook(ctx: AppContext, scope: Scope, id: string, input: WebhookInput) {
  const existing = await requireWebhook(ctx, scope, id);
  checkUrl(input.url);
  if (input.kind !== undefined && input.kind !== existing.kind)
    throw invalid("whatsapp_webhook.kind", "cannot be changed after creation");
  if (input.buffer_enabled)
    throw unprocessable("whatsapp_webhook.buffer_enabled: buffering is not supported by this server");
  const events =
    input.events === undefined ? undefined : checkEvents(input.events, existing.phone_number_ref !== null);
  if (events?.length === 0) throw invalid("whatsapp_webhook.events", "must name at least one event");
  await ctx.db.query(sql`
    UPDATE webhooks SET
      url = COALESCE(${input.url ?? null}, url),
      events = COALESCE(${events ?? null}::text[], events),
      active = COALESCE(${input.active ?? null}::boolean, active),
      secret_key = COALESCE(${input.secret_key ?? null}, secret_key),
      headers = CASE WHEN ${input.headers !== undefined} THEN ${input.headers ? json(input.headers) : null}::jsonb ELSE headers END,
      inactivity_minutes = CASE WHEN ${input.inactivity_minutes !== undefined} THEN ${input.inactivity_minutes ?? null}::integer ELSE inactivity_minutes END,
      updated_at = clock_timestamp()
    WHERE id = ${id}`);
  return getWebhook(ctx, scope, id);
}

export async function deleteWebhook(ctx: AppContext, scope: Scope, id: string) {
  await requireWebhook(ctx, scope, id);
  await ctx.db.query(sql`DELETE FROM webhooks WHERE id = ${id}`);
}

/** Queues a test delivery of `eventType` (default: the webhook's first event) to the webhook. */
export async function testWebhook(ctx: AppContext, scope: Scope, id: string, eventType: string | undefined) {
  const webhook = await requireWebhook(ctx, scope, id);
  const event = eventType ?? webhook.events[0]!;
  if (!webhook.events.includes(event)) throw invalid("event_type", "must be one of the webhook's events");
  await ctx.db.query(sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, phone_number_ref)
    VALUES (${webhook.project_id}, ${webhook.id}, ${event},
      ${json({ test: true, event, phone_number_id: webhook.phone_number_id, occurred_at: new Date().toISOString() })},
      ${webhook.phone_number_ref})`);
  await ctx.db.query(sql`SELECT pg_notify('parley_events', '{}')`);
  return { success: true };
}

const PERIOD_HOURS = { "24h": 24, "7d": 168, "30d": 720 } as const;

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
  if (q.event) c.push(sql`d.event = ${q.event}`);
  if (q.webhook_id) c.push(sql`d.webhook_id = ${q.webhook_id}`);
  const rows = await ctx.db.query<Static<typeof WebhookDelivery>>(sql`
    SELECT d.id, d.event, d.status, d.response_status, d.delivered_at, d.failed_at, d.last_attempt_at,
           d.attempt_count, d.created_at, d.webhook_id, w.url AS webhook_url,
           d.phone_number_ref AS whatsapp_config_id, pn.phone_number_id, ct.wa_id AS conversation_phone_number
    FROM webhook_deliveries d
    LEFT JOIN webhooks w ON w.id = d.webhook_id
    LEFT JOIN phone_numbers pn ON pn.id = d.phone_number_ref
    LEFT JOIN conversations v ON v.id = d.conversation_id
    LEFT JOIN contacts ct ON ct.id = v.contact_id
    WHERE ${whereAll(c)} ${cursor.orderBy} ${cursor.limit}`);
  return cursorPage(rows, params, cursor.direction, (r) => ({
    column: "created_at",
    value: r.created_at,
    id: r.id,
  }));
}
