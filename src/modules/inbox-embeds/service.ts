import type { AppContext } from "../../context.ts";
import { HttpError, invalid, notFound, unprocessable } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { isUuid } from "../../lib/ids.ts";
import { hashSecret, newSecret } from "../../security/secrets.ts";
import { findCustomer } from "../customers/store.ts";
import { findProjectPhoneNumber } from "../phone-numbers/store.ts";
import { findProjectMember } from "../users/store.ts";
import { normalizeOriginPattern } from "./origins.ts";
import type { CreateInboxEmbedInput, ListInboxEmbedsFilters, UpdateInboxEmbedInput } from "./schemas.ts";
import * as store from "./store.ts";

export type InboxEmbed = Omit<store.InboxEmbedRow, "project_id">;

function present(row: store.InboxEmbedRow): InboxEmbed {
  const { project_id: _project, ...embed } = row;
  return embed;
}

/** Validates and normalizes `allowed_origins`: each item an origin, stored once, lowercased. */
function normalizeOrigins(origins: string[]): string[] {
  const normalized = origins.map((origin, index) => {
    const check = normalizeOriginPattern(origin);
    if (!check.ok) throw invalid(`allowed_origins[${index}]`, check.reason);
    return check.origin;
  });
  return [...new Set(normalized)];
}

function checkExpiry(expiresAt: string | null | undefined): void {
  if (expiresAt && Date.parse(expiresAt) <= Date.now()) throw invalid("expires_at", "must be in the future");
}

async function checkScope(
  ctx: AppContext,
  projectId: string,
  scopeType: store.InboxEmbedRow["scope_type"],
  scopeId: string | null,
): Promise<void> {
  if (scopeType === "project") {
    if (scopeId !== null) throw invalid("scope_id", "must be blank when scope_type is project");
    return;
  }
  if (scopeId === null) throw invalid("scope_id", `is required when scope_type is ${scopeType}`);
  if (scopeType === "customer") {
    if (!isUuid(scopeId)) throw invalid("scope_id", "must be a customer UUID");
    if (!(await findCustomer(ctx.db, projectId, scopeId))) {
      throw invalid("scope_id", "must be a customer of this project");
    }
  }
  if (scopeType === "phone_number" && !(await findProjectPhoneNumber(ctx.db, projectId, scopeId))) {
    throw invalid("scope_id", "must be the phone_number_id of a number connected to this project");
  }
}

async function checkAssignee(ctx: AppContext, projectId: string, userId: string | null | undefined) {
  if (userId && !(await findProjectMember(ctx.db, projectId, userId))) {
    throw invalid("assigned_user_id", "must be the user_id of a member of this project");
  }
}

async function requireEmbed(ctx: AppContext, projectId: string, id: string): Promise<store.InboxEmbedRow> {
  const row = await store.findInboxEmbed(ctx.db, projectId, id);
  if (!row) throw notFound("Inbox embed");
  return row;
}

export async function listInboxEmbeds(
  ctx: AppContext,
  projectId: string,
  filters: ListInboxEmbedsFilters,
  page: OffsetParams,
) {
  const { rows, total } = await store.listInboxEmbeds(
    ctx.db,
    projectId,
    {
      status: filters.status,
      scopeType: filters.scope_type,
      scopeId: filters.scope_id,
      assignedUserId: filters.assigned_user_id,
    },
    page,
  );
  return offsetPage(rows.map(present), total, page);
}

export async function getInboxEmbed(ctx: AppContext, projectId: string, id: string): Promise<InboxEmbed> {
  return present(await requireEmbed(ctx, projectId, id));
}

/** Creates an embed; the raw token and its URL are returned here and never again. */
export async function createInboxEmbed(ctx: AppContext, projectId: string, input: CreateInboxEmbedInput) {
  const scopeId = input.scope_id?.trim() ? input.scope_id.trim() : null;
  await checkScope(ctx, projectId, input.scope_type, scopeId);
  await checkAssignee(ctx, projectId, input.assigned_user_id);
  checkExpiry(input.expires_at);
  const token = newSecret("inbox");
  const id = await store.insertInboxEmbed(ctx.db, {
    projectId,
    name: input.name ?? null,
    scopeType: input.scope_type,
    scopeId,
    assignedUserId: input.assigned_user_id ?? null,
    allowedOrigins: normalizeOrigins(input.allowed_origins ?? []),
    defaultMode: input.default_mode ?? "system",
    language: input.language ?? "en",
    expiresAt: input.expires_at ?? null,
    tokenHash: hashSecret(token),
  });
  const embed = await getInboxEmbed(ctx, projectId, id);
  return { ...embed, token, embed_url: `${ctx.config.publicUrl}/embed/${token}` };
}

export async function updateInboxEmbed(
  ctx: AppContext,
  projectId: string,
  id: string,
  input: UpdateInboxEmbedInput,
): Promise<InboxEmbed> {
  if (input.scope_type !== undefined || input.scope_id !== undefined) {
    throw unprocessable(
      "scope_type and scope_id cannot be changed; create a new embed for a different scope",
    );
  }
  if (input.status !== undefined) {
    throw unprocessable("status cannot be changed; revoke an embed with DELETE");
  }
  const existing = await requireEmbed(ctx, projectId, id);
  if (existing.status === "revoked") throw new HttpError(422, "Inbox embed is revoked and cannot be changed");
  await checkAssignee(ctx, projectId, input.assigned_user_id);
  checkExpiry(input.expires_at);
  await store.updateInboxEmbed(ctx.db, projectId, id, {
    name: input.name,
    assigned_user_id: input.assigned_user_id,
    allowed_origins: input.allowed_origins && normalizeOrigins(input.allowed_origins),
    default_mode: input.default_mode,
    language: input.language,
    expires_at: input.expires_at,
  });
  return getInboxEmbed(ctx, projectId, id);
}

/** Revokes at once; the record stays, listed with `status: revoked`. Revoking twice is harmless. */
export async function revokeInboxEmbed(ctx: AppContext, projectId: string, id: string): Promise<void> {
  if (!(await store.revokeInboxEmbed(ctx.db, projectId, id))) throw notFound("Inbox embed");
}
