import type { AppContext } from "../../context.ts";
import { HttpError, notFound, unprocessable } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { inTransaction } from "../../jobs/boss.ts";
import { isUuid } from "../../lib/ids.ts";
import { GraphApiError, type MetaError } from "../../whatsapp/graph-client.ts";
import { graphTargetFor } from "../../whatsapp/targets.ts";
import { requirePhoneNumber } from "../phone-numbers/service.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";
import type { CreateDisplayNameRequestInput, DisplayNameStatus } from "./schemas.ts";
import * as store from "./store.ts";

/** pg-boss queue of one request's next look at Meta's review. */
export const DISPLAY_NAME_POLL_QUEUE = "display-name-poll";
/** pg-boss queue of the scheduled sweep that restarts polls whose job was lost. */
export const DISPLAY_NAME_SWEEP_QUEUE = "display-name-sweep";

/** What Parley reads from Meta's `GET /{phone_number_id}` about a display-name change. */
const REVIEW_FIELDS = "new_display_name,new_name_status,verified_name,name_status";

/** Meta's `new_name_status` / `name_status` values → the request's status. */
const META_STATUS: Record<string, DisplayNameStatus> = {
  PENDING_REVIEW: "pending_review",
  APPROVED: "approved",
  AVAILABLE_WITHOUT_REVIEW: "available_without_review",
  DECLINED: "declined",
  EXPIRED: "expired",
  DEFERRED: "deferred",
  NONE: "no_review",
};

const APPROVED: readonly DisplayNameStatus[] = ["approved", "available_without_review"];

interface ReviewAnswer {
  new_display_name?: string;
  new_name_status?: string;
  verified_name?: string;
  name_status?: string;
}

export function presentDisplayNameRequest(row: store.DisplayNameRequestRow) {
  return {
    id: row.id,
    phone_number_id: row.phone_number_id,
    requested_display_name: row.requested_display_name,
    previous_display_name: row.previous_display_name,
    status: row.status,
    submitted_at: row.submitted_at,
    reviewed_at: row.reviewed_at,
    applied_at: row.applied_at,
    meta_error_code: row.meta_error_code,
    meta_error_subcode: row.meta_error_subcode,
    meta_error_type: row.meta_error_type,
    meta_error_message: row.meta_error_message,
  };
}

export async function listDisplayNameRequests(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
  page: OffsetParams,
) {
  const number = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  const { rows, total } = await store.listDisplayNameRequests(ctx.db, projectId, number.id, page);
  return offsetPage(rows.map(presentDisplayNameRequest), total, page);
}

export async function getDisplayNameRequest(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
  requestId: string,
) {
  const number = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  const row = isUuid(requestId)
    ? await store.findDisplayNameRequest(ctx.db, projectId, number.id, requestId)
    : undefined;
  if (!row) throw notFound("Display name request");
  return presentDisplayNameRequest(row);
}

function alreadyOpen(number: PhoneNumberRow, open: Pick<store.DisplayNameRequestRow, "id" | "status">) {
  return unprocessable(
    `display_name_request cannot be submitted: phone number ${number.phone_number_id} already has a display name request awaiting Meta's review (${open.id}, ${open.status})`,
  );
}

function metaErrorFields(error: MetaError): store.DisplayNameRequestChanges {
  return {
    meta_error_code: error.code === 0 ? null : error.code,
    meta_error_subcode: error.error_subcode ?? null,
    meta_error_type: error.type,
    meta_error_message: error.message,
  };
}

/** The request's status from Meta's answer, or undefined when Meta says nothing of this name. */
function statusFromMeta(requested: string, answer: ReviewAnswer): DisplayNameStatus | undefined {
  if (answer.new_display_name === requested && answer.new_name_status) {
    return META_STATUS[answer.new_name_status];
  }
  // Once a change is through, Meta may report the name only as the number's verified name.
  if (answer.verified_name === requested && answer.name_status) {
    const status = META_STATUS[answer.name_status];
    if (status && APPROVED.includes(status)) return status;
  }
  return undefined;
}

/**
 * Records what Meta said about an open request, in one transaction: a decision (with the name
 * applied to the number when approved), or the next poll while Meta is still reviewing.
 */
async function recordReview(
  ctx: AppContext,
  request: store.DisplayNameRequestRow,
  status: DisplayNameStatus,
): Promise<store.DisplayNameRequestRow> {
  return ctx.db.transaction(async (tx) => {
    const now = new Date().toISOString();
    if (store.OPEN_STATUSES.includes(status)) {
      const interval = ctx.config.displayNamePollSeconds;
      const updated = await store.updateOpenRequest(tx, request.id, { status }, interval);
      if (!updated) return request;
      await ctx.jobs.send(
        DISPLAY_NAME_POLL_QUEUE,
        { request_id: request.id },
        { ...inTransaction(tx), startAfter: interval },
      );
      return updated;
    }
    const approved = APPROVED.includes(status);
    const updated = await store.updateOpenRequest(tx, request.id, {
      status,
      reviewed_at: now,
      applied_at: approved ? now : undefined,
      next_check_at: null,
    });
    if (!updated) return request;
    if (approved) await store.applyDisplayName(tx, request.phone_number_ref, request.requested_display_name);
    return updated;
  });
}

/** Asks Meta where its review of `request` stands; undefined when Meta could not say. */
async function readReview(
  ctx: AppContext,
  number: Pick<PhoneNumberRow, "kind" | "access_token_encrypted" | "phone_number_id">,
  request: store.DisplayNameRequestRow,
): Promise<DisplayNameStatus | undefined> {
  try {
    const answer = await ctx.graph.request<ReviewAnswer>(graphTargetFor(ctx, number), {
      path: `/${number.phone_number_id}`,
      query: { fields: REVIEW_FIELDS },
    });
    return statusFromMeta(request.requested_display_name, answer);
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    ctx.log.warn({ request_id: request.id, code: err.error.code }, "display name review could not be read");
    return undefined;
  }
}

/**
 * Submits a new display name to Meta (or the sandbox, for a sandbox number). The request is
 * recorded first, so a second submission for the number is refused even when both race.
 */
export async function createDisplayNameRequest(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
  input: CreateDisplayNameRequestInput,
) {
  const name = input.new_display_name.trim();
  if (!name) throw new HttpError(422, "display_name_request.new_display_name must not be blank");
  const number = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  if (number.kind === "production" && !number.access_token_encrypted) {
    throw unprocessable(
      `display_name_request cannot be submitted: phone number ${number.phone_number_id} has no access_token`,
    );
  }
  const open = await store.findOpenRequest(ctx.db, projectId, number.id);
  if (open) throw alreadyOpen(number, open);
  let request: store.DisplayNameRequestRow;
  try {
    request = await store.insertDisplayNameRequest(ctx.db, {
      projectId,
      phoneNumberRef: number.id,
      phoneNumberId: number.phone_number_id,
      requestedDisplayName: name,
      previousDisplayName: number.display_name ?? number.verified_name ?? number.display_phone_number,
    });
  } catch (err) {
    if ((err as { code?: string }).code !== "23505") throw err;
    const winner = await store.findOpenRequest(ctx.db, projectId, number.id);
    throw alreadyOpen(number, winner ?? { id: "unknown", status: "submitted" });
  }

  try {
    await ctx.graph.request(graphTargetFor(ctx, number), {
      method: "POST",
      path: `/${number.phone_number_id}`,
      query: { new_display_name: name },
    });
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    return presentDisplayNameRequest(await recordRefusal(ctx, request, err));
  }

  const status = (await readReview(ctx, number, request)) ?? "submitted";
  return presentDisplayNameRequest(await recordReview(ctx, request, status));
}

/**
 * Meta refused the submission. An invalid-parameter refusal (code 100) is Meta declining the
 * name: the request is `declined` with Meta's error. Anything else fails the request (kept,
 * with Meta's error) and answers 502 when Meta was unreachable or failing, else 422.
 */
async function recordRefusal(
  ctx: AppContext,
  request: store.DisplayNameRequestRow,
  err: GraphApiError,
): Promise<store.DisplayNameRequestRow> {
  const declined = err.status >= 400 && err.status < 500 && err.error.code === 100;
  const updated = await store.updateOpenRequest(ctx.db, request.id, {
    status: declined ? "declined" : "failed",
    reviewed_at: declined ? new Date().toISOString() : undefined,
    next_check_at: null,
    ...metaErrorFields(err.error),
  });
  if (declined) return updated ?? request;
  if (err.status === 0 || err.status >= 500 || err.status === 429) {
    throw new HttpError(502, `The WhatsApp Cloud API could not take the display name: ${err.error.message}`);
  }
  throw unprocessable(`Meta refused the display name request: ${err.error.message}`);
}

/**
 * One look at Meta's review of an open request. A poll job (`onlyIfDue`) that finds the next
 * check still ahead is a duplicate of a chain the sweep restarted, and stops.
 */
export async function pollDisplayNameRequest(
  ctx: AppContext,
  requestId: string,
  options: { onlyIfDue?: boolean } = {},
): Promise<void> {
  const target = await store.findOpenRequestForPoll(ctx.db, requestId);
  if (!target || (options.onlyIfDue && !target.due)) return;
  if (target.number_deleted_at) {
    await store.updateOpenRequest(ctx.db, target.id, { status: "cancelled", next_check_at: null });
    return;
  }
  const status = await readReview(
    ctx,
    {
      kind: target.number_kind,
      access_token_encrypted: target.number_access_token_encrypted,
      phone_number_id: target.number_phone_number_id,
    },
    target,
  );
  // Meta unreachable or silent about this name: keep the status, look again later.
  await recordReview(ctx, target, status ?? target.status);
}

/** The scheduled sweep: polls open requests whose poll job was lost (overdue by a full interval). */
export async function sweepDisplayNameRequests(ctx: AppContext): Promise<number> {
  const ids = await store.listOverdueRequestIds(ctx.db, ctx.config.displayNamePollSeconds);
  for (const id of ids) await pollDisplayNameRequest(ctx, id);
  return ids.length;
}
