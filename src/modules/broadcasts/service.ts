import sql from "sql-template-tag";
import type { AppContext } from "../../context.ts";
import type { Queryable } from "../../db/database.ts";
import { HttpError, notFound, unprocessable } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { inTransaction } from "../../jobs/boss.ts";
import { isUuid } from "../../lib/ids.ts";
import { DEFAULT_SANDBOX_WABA } from "../../sandbox/numbers.ts";
import { GraphApiError } from "../../whatsapp/graph-client.ts";
import { graphTargetFor } from "../../whatsapp/targets.ts";
import { expectedParameters } from "../../whatsapp/template-parameters.ts";
import { requirePhoneNumber } from "../phone-numbers/service.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";
import { presentBroadcast, presentRecipient, presentSendResponse } from "./presenter.ts";
import {
  type BroadcastStatus,
  type BroadcastTemplate,
  type CreateBroadcastInput,
  type ListBroadcastsFilters,
  MAX_RECIPIENTS_PER_REQUEST,
  type NewRecipient,
} from "./schemas.ts";
import * as store from "./store.ts";

/** pg-boss queue of scheduled starts (`startAfter` = `scheduled_at`). */
export const BROADCAST_START_QUEUE = "broadcast-start";
/** pg-boss queue of runs: a job sends one broadcast until it is done (see runner.ts). */
export const BROADCAST_RUN_QUEUE = "broadcast-run";
/** pg-boss queue of copies: a job copies a `copying` broadcast's recipients, then makes it a draft. */
export const BROADCAST_COPY_QUEUE = "broadcast-copy";
/** Recipients a copy job copies per transaction. */
const COPY_CHUNK = 1000;
/** A copy whose job has not touched it for this long is run again by the sweep. */
export const COPY_STALE_SECONDS = 60;

const TEMPLATE_NOT_FOUND = "Phone number or template not found";

async function requireBroadcast(db: Queryable, projectId: string, id: string) {
  const row = isUuid(id) ? await store.findBroadcast(db, projectId, id) : undefined;
  if (!row) throw notFound("Broadcast");
  return row;
}

async function lockBroadcast(tx: Queryable, projectId: string, id: string) {
  const row = isUuid(id) ? await store.lockBroadcast(tx, projectId, id) : undefined;
  if (!row) throw notFound("Broadcast");
  return row;
}

/** 422 naming the refused transition. */
function refused(action: string, status: BroadcastStatus): HttpError {
  return unprocessable(`Cannot ${action} a broadcast in ${status} status`);
}

interface MetaTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  components?: Record<string, unknown>[];
  quality_score?: { score?: string };
}

const QUALITY_SCORES = ["GREEN", "YELLOW", "RED", "UNKNOWN"] as const;

/** The WABA whose templates a number may send. */
function wabaOf(number: PhoneNumberRow): string {
  if (number.business_account_id) return number.business_account_id;
  if (number.kind === "sandbox") return DEFAULT_SANDBOX_WABA;
  throw unprocessable("The phone number has no WhatsApp Business Account (business_account_id)");
}

/**
 * Reads the template from Meta (or the sandbox) by its Meta id and checks that it belongs to the
 * number's WABA and is approved.
 */
async function fetchTemplate(
  ctx: AppContext,
  number: PhoneNumberRow,
  templateId: string,
): Promise<BroadcastTemplate> {
  // Meta template ids are numeric; Parley keeps no templates of its own, so there is no legacy UUID.
  if (!/^\d{1,32}$/.test(templateId)) throw new HttpError(404, TEMPLATE_NOT_FOUND);
  const target = graphTargetFor(ctx, number);
  const waba = wabaOf(number);
  let template: MetaTemplate;
  try {
    template = await ctx.graph.request<MetaTemplate>(target, {
      path: `/${templateId}`,
      query: { fields: "id,name,language,status,category,components,quality_score" },
    });
    const sameName = await ctx.graph.request<{ data?: { id: string }[] }>(target, {
      path: `/${waba}/message_templates`,
      query: { name: template.name, limit: 100 },
    });
    if (!(sameName.data ?? []).some((t) => t.id === template.id))
      throw new HttpError(404, TEMPLATE_NOT_FOUND);
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    if (err.status >= 400 && err.status < 500 && err.status !== 429)
      throw new HttpError(404, TEMPLATE_NOT_FOUND);
    throw new HttpError(502, `Meta API error: ${err.error.message}`);
  }
  if (template.status !== "APPROVED") {
    throw unprocessable(
      `whatsapp_template_id names template ${template.name} (${template.language}), which is ${template.status}; only approved templates can be broadcast`,
    );
  }
  const score = template.quality_score?.score;
  return {
    id: template.id,
    meta_template_id: template.id,
    name: template.name,
    language_code: template.language,
    category: template.category,
    status: template.status.toLowerCase(),
    quality_score: QUALITY_SCORES.find((s) => s === score) ?? null,
    components: template.components ?? [],
  };
}

/** The project's number and its approved template, as create (and copy) require them. */
async function numberAndTemplate(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
  templateId: string,
) {
  const number = await requirePhoneNumber(ctx.db, projectId, phoneNumberId).catch((err) => {
    throw err instanceof HttpError && err.statusCode === 404 ? new HttpError(404, TEMPLATE_NOT_FOUND) : err;
  });
  return { number, template: await fetchTemplate(ctx, number, templateId) };
}

export async function createBroadcast(ctx: AppContext, projectId: string, input: CreateBroadcastInput) {
  const { number, template } = await numberAndTemplate(
    ctx,
    projectId,
    input.phone_number_id,
    input.whatsapp_template_id,
  );
  const id = await store.insertBroadcast(ctx.db, {
    projectId,
    phoneNumberRef: number.id,
    name: input.name,
    template,
    sandbox: number.kind === "sandbox",
  });
  return presentBroadcast(await requireBroadcast(ctx.db, projectId, id));
}

const COPY_SUFFIX = " (copy)";

/**
 * Copy (a Parley extension): a new broadcast of the same number and template (checked again
 * as create checks it) that starts `copying`; the copy job, written in the same transaction,
 * copies every recipient as a new pending one and then makes it a draft.
 */
export async function copyBroadcast(ctx: AppContext, projectId: string, id: string, name?: string) {
  const source = await requireBroadcast(ctx.db, projectId, id);
  const { number, template } = await numberAndTemplate(
    ctx,
    projectId,
    source.phone_number_id,
    source.template.id,
  );
  const copyId = await ctx.db.transaction(async (tx) => {
    const inserted = await store.insertBroadcast(tx, {
      projectId,
      phoneNumberRef: number.id,
      name: name ?? source.name.slice(0, 255 - COPY_SUFFIX.length) + COPY_SUFFIX,
      template,
      sandbox: number.kind === "sandbox",
      copiedFrom: source.id,
    });
    await queueCopy(ctx, inserted, tx);
    return inserted;
  });
  return presentBroadcast(await requireBroadcast(ctx.db, projectId, copyId));
}

/** Queues the copy job of a `copying` broadcast (in `tx` when given). */
export async function queueCopy(ctx: AppContext, broadcastId: string, tx?: Queryable): Promise<void> {
  await queueBroadcastJob(ctx, BROADCAST_COPY_QUEUE, broadcastId, tx);
}

/**
 * The copy job: copies the source's recipients in chunks, one transaction each with the copy
 * locked, then makes the copy a draft. Running it twice (a retry, or the sweep's re-run of a
 * copy whose job was lost) adds no recipient twice, keeps the send order, and does nothing once
 * the copy is a draft.
 */
export async function runCopy(ctx: AppContext, broadcastId: string, signal: AbortSignal): Promise<void> {
  let after = "0";
  // On shutdown the copy stops between chunks; the next start's sweep runs it again.
  while (!signal.aborted) {
    const done = await ctx.db.transaction(async (tx) => {
      const [copy] = await tx.query<{ copied_from: string | null }>(sql`
        SELECT copied_from FROM broadcasts WHERE id = ${broadcastId} AND status = 'copying' FOR UPDATE`);
      if (!copy) return true;
      const last = await store.copyRecipients(tx, copy.copied_from, broadcastId, after, COPY_CHUNK);
      // updated_at tells the sweep the copy is alive.
      await store.updateBroadcast(tx, broadcastId, last === undefined ? { status: "draft" } : {});
      if (last === undefined) return true;
      after = last;
      return false;
    });
    if (done) return;
  }
}

export async function getBroadcast(ctx: AppContext, projectId: string, id: string) {
  return presentBroadcast(await requireBroadcast(ctx.db, projectId, id));
}

export async function listBroadcasts(
  ctx: AppContext,
  projectId: string,
  filters: ListBroadcastsFilters,
  page: OffsetParams,
) {
  const { rows, total } = await store.listBroadcasts(ctx.db, projectId, filters, page);
  return offsetPage(rows.map(presentBroadcast), total, page);
}

export async function listRecipients(ctx: AppContext, projectId: string, id: string, page: OffsetParams) {
  const broadcast = await requireBroadcast(ctx.db, projectId, id);
  const { rows, total } = await store.listRecipients(ctx.db, broadcast.id, page);
  return offsetPage(rows.map(presentRecipient), total, page);
}

/** E.164 digits without `+` (8 to 15 digits), or undefined when `raw` is not a phone number. */
export function normalizePhoneNumber(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (!/^\+?[\d\s().-]+$/.test(trimmed)) return undefined;
  const digits = trimmed.replace(/\D/g, "");
  return /^[1-9]\d{7,14}$/.test(digits) ? digits : undefined;
}

/** What is wrong with a recipient's parameters for `template`, or undefined. */
function parameterProblem(template: BroadcastTemplate, components: NewRecipient["components"]) {
  const given = components ?? [];
  for (const part of ["header", "body"] as const) {
    const expected = expectedParameters(template.components, part);
    const count = given.filter((c) => c.type === part).reduce((n, c) => n + (c.parameters?.length ?? 0), 0);
    if (count !== expected) {
      const what = part === "body" ? "" : `${part} `;
      return `template parameters invalid - requires ${expected} ${what}parameters but got ${count}`;
    }
  }
  return undefined;
}

/** A recipient's number (and contact), or what is wrong with it. */
function checkRecipient(
  r: NewRecipient,
  contacts: Map<string, string | null>,
  template: BroadcastTemplate,
): { phoneNumber: string; contactId: string | null } | { problem: string } {
  let phoneNumber: string | undefined;
  let contactId: string | null = null;
  if (r.whatsapp_contact_id !== undefined) {
    const waId = isUuid(r.whatsapp_contact_id) ? contacts.get(r.whatsapp_contact_id) : undefined;
    if (waId === undefined) return { problem: "whatsapp_contact_id not found" };
    if (waId === null) return { problem: "contact has no WhatsApp number" };
    if (r.phone_number !== undefined && normalizePhoneNumber(r.phone_number) !== waId) {
      return { problem: "phone_number does not match the contact's number" };
    }
    contactId = r.whatsapp_contact_id;
    phoneNumber = waId;
  } else if (r.phone_number !== undefined) {
    phoneNumber = normalizePhoneNumber(r.phone_number);
    if (!phoneNumber) return { problem: "invalid phone number format" };
  } else {
    return { problem: "phone_number or whatsapp_contact_id is required" };
  }
  const problem = parameterProblem(template, r.components);
  return problem ? { problem } : { phoneNumber, contactId };
}

/**
 * Adds up to 1000 recipients to a draft or scheduled broadcast. A recipient whose number is
 * malformed, whose contact does not exist or whose parameters do not fit the template is not
 * added and reported in `errors` ("Recipient 3: …", counted from 1); a number the broadcast
 * already has (or that appears twice in the request) counts as a duplicate.
 */
export async function addRecipients(
  ctx: AppContext,
  projectId: string,
  id: string,
  recipients: NewRecipient[],
) {
  if (recipients.length > MAX_RECIPIENTS_PER_REQUEST) {
    throw unprocessable(`Cannot add more than ${MAX_RECIPIENTS_PER_REQUEST} recipients per request`);
  }
  const contactIds = [
    ...new Set(recipients.map((r) => r.whatsapp_contact_id).filter((c): c is string => isUuid(c))),
  ];
  const contacts = new Map(
    contactIds.length === 0
      ? []
      : (
          await ctx.db.query<{ id: string; wa_id: string | null }>(sql`
            SELECT id, wa_id FROM contacts WHERE project_id = ${projectId} AND id = ANY(${contactIds}::uuid[])`)
        ).map((c) => [c.id, c.wa_id]),
  );
  return ctx.db.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, projectId, id);
    if (broadcast.status !== "draft" && broadcast.status !== "scheduled") {
      throw unprocessable(`Cannot add recipients to broadcast in ${broadcast.status} status`);
    }
    const errors: string[] = [];
    const accepted: { phoneNumber: string; contactId: string | null; components: unknown[] }[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    for (const [index, r] of recipients.entries()) {
      const checked = checkRecipient(r, contacts, broadcast.template);
      if ("problem" in checked) {
        errors.push(`Recipient ${index + 1}: ${checked.problem}`);
      } else if (seen.has(checked.phoneNumber)) {
        duplicates++;
      } else {
        seen.add(checked.phoneNumber);
        accepted.push({ ...checked, components: r.components ?? [] });
      }
    }
    const added = await store.insertRecipients(tx, broadcast.id, accepted);
    return { added, duplicates: duplicates + (accepted.length - added), errors };
  });
}

export async function clearRecipients(ctx: AppContext, projectId: string, id: string) {
  await ctx.db.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, projectId, id);
    if (broadcast.status !== "draft" && broadcast.status !== "scheduled") {
      throw unprocessable(`Cannot clear recipients of a broadcast in ${broadcast.status} status`);
    }
    await store.deleteRecipients(tx, broadcast.id);
    if (broadcast.status === "scheduled") {
      await store.updateBroadcast(tx, broadcast.id, { status: "draft", scheduled_at: null });
    }
  });
  return getBroadcast(ctx, projectId, id);
}

/** Queues a job of the broadcast on `queue`, in `tx` when given. */
async function queueBroadcastJob(ctx: AppContext, queue: string, broadcastId: string, tx?: Queryable) {
  await ctx.jobs.send(
    queue,
    { broadcast_id: broadcastId },
    { ...(tx ? inTransaction(tx) : {}), retryLimit: 10, retryDelay: 5, retryBackoff: true },
  );
}

/** Queues a run of the broadcast (in `tx` when given); runs of one broadcast never overlap. */
export async function queueRun(ctx: AppContext, broadcastId: string, tx?: Queryable): Promise<void> {
  await queueBroadcastJob(ctx, BROADCAST_RUN_QUEUE, broadcastId, tx);
}

/** Starts sending now: from draft (or scheduled, which starts early), with at least one recipient. */
export async function sendBroadcast(ctx: AppContext, projectId: string, id: string) {
  await ctx.db.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, projectId, id);
    if (broadcast.status === "sending") throw unprocessable("Broadcast is already sending");
    if (broadcast.status === "completed") throw unprocessable("Broadcast already completed");
    if (broadcast.status !== "draft" && broadcast.status !== "scheduled")
      throw refused("send", broadcast.status);
    if ((await store.countRecipients(tx, broadcast.id)) === 0)
      throw unprocessable("Broadcast has no recipients");
    await store.updateBroadcast(tx, broadcast.id, {
      status: "sending",
      started_at: new Date().toISOString(),
    });
    await queueRun(ctx, broadcast.id, tx);
  });
  return presentSendResponse(await requireBroadcast(ctx.db, projectId, id));
}

/** Schedules a draft with recipients to start at `scheduledAt` (a durable pg-boss job). */
export async function scheduleBroadcast(ctx: AppContext, projectId: string, id: string, scheduledAt: string) {
  const at = new Date(scheduledAt);
  if (at.getTime() <= Date.now()) throw unprocessable("scheduled_at must be in the future");
  await ctx.db.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, projectId, id);
    if (broadcast.status !== "draft") throw refused("schedule", broadcast.status);
    if ((await store.countRecipients(tx, broadcast.id)) === 0)
      throw unprocessable("Broadcast has no recipients");
    await store.updateBroadcast(tx, broadcast.id, { status: "scheduled", scheduled_at: at.toISOString() });
    await ctx.jobs.send(
      BROADCAST_START_QUEUE,
      { broadcast_id: broadcast.id, scheduled_at: at.toISOString() },
      { ...inTransaction(tx), startAfter: at, retryLimit: 10, retryDelay: 5 },
    );
  });
  return presentSendResponse(await requireBroadcast(ctx.db, projectId, id));
}

/** A scheduled broadcast goes back to draft; its start job finds it no longer scheduled. */
async function unschedule(ctx: AppContext, projectId: string, id: string, action: string) {
  await ctx.db.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, projectId, id);
    if (broadcast.status !== "scheduled") throw refused(action, broadcast.status);
    await store.updateBroadcast(tx, broadcast.id, { status: "draft", scheduled_at: null });
  });
}

export async function cancelBroadcast(ctx: AppContext, projectId: string, id: string) {
  await unschedule(ctx, projectId, id, "cancel");
  return presentSendResponse(await requireBroadcast(ctx.db, projectId, id));
}

/** PATCH status: `stopped` stops a sending broadcast, `draft` cancels a scheduled one. */
export async function updateBroadcastStatus(
  ctx: AppContext,
  projectId: string,
  id: string,
  status: "draft" | "stopped",
) {
  if (status === "draft") {
    await unschedule(ctx, projectId, id, "return to draft");
  } else {
    await ctx.db.transaction(async (tx) => {
      const broadcast = await lockBroadcast(tx, projectId, id);
      if (broadcast.status !== "sending") throw refused("stop", broadcast.status);
      await store.updateBroadcast(tx, broadcast.id, {
        status: "stopped",
        stopped_at: new Date().toISOString(),
      });
    });
  }
  return getBroadcast(ctx, projectId, id);
}

/** The start job of a scheduled broadcast: starts it if it is still scheduled for that time. */
export async function startScheduledBroadcast(ctx: AppContext, broadcastId: string, scheduledAt: string) {
  await ctx.db.transaction(async (tx) => {
    const rows = await tx.query<{ id: string }>(sql`
      UPDATE broadcasts SET status = 'sending', started_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE id = ${broadcastId} AND status = 'scheduled' AND scheduled_at = ${scheduledAt}::timestamptz
      RETURNING id`);
    if (rows.length) await queueRun(ctx, broadcastId, tx);
  });
}
