import sql from "sql-template-tag";
import type { AppContext } from "../../context.ts";
import { announceToInboxes } from "../../events/publish.ts";
import { conflict, HttpError, invalid, notFound } from "../../http/errors.ts";
import { cursorPage, offsetPage } from "../../http/pagination.ts";
import { conversationIdsOfContact } from "../conversations/store.ts";
import { findCustomer } from "../customers/store.ts";
import { findProjectPhoneNumber } from "../phone-numbers/store.ts";
import { presentContact } from "./presenter.ts";
import type { CreateContactInput, ListContactsFilters, UpdateContactInput } from "./schemas.ts";
import * as store from "./store.ts";

const MAX_LEGACY_PAGE = 50;
const MAX_LEGACY_WINDOW = 5000;

/** `+1 (555) 123-4567` → `15551234567`; anything else is not a WhatsApp number. */
function normalizeWaId(field: string, value: string): string {
  const digits = value.replace(/[\s()+.-]/g, "");
  if (!/^\d{6,20}$/.test(digits)) throw invalid(field, "must be a phone number in E.164 format");
  return digits;
}

async function checkCustomer(ctx: AppContext, projectId: string, customerId: string | null | undefined) {
  if (customerId && !(await findCustomer(ctx.db, projectId, customerId))) {
    throw invalid("contact.customer_id", "must be a customer of this project");
  }
}

async function requireContact(ctx: AppContext, projectId: string, identifier: string) {
  const row = await store.findContact(ctx.db, projectId, identifier);
  if (!row) throw notFound("Contact");
  return row;
}

/**
 * Offset paging (`meta`) when `page` or `per_page` is given, cursor paging (`paging`)
 * otherwise; legacy offsets stop at page 50 and 5,000 rows, as Kapso's.
 */
export async function listContacts(ctx: AppContext, projectId: string, q: ListContactsFilters) {
  const filters = {
    customerId: q.customer_id,
    customerExternalId: q.customer_external_id,
    hasCustomer: q.has_customer,
    profileNameContains: q.profile_name_contains,
    waIdContains: q.wa_id_contains,
    businessScopedUserId: q.business_scoped_user_id,
    createdAfter: q.created_after,
    createdBefore: q.created_before,
  };
  if (q.page !== undefined || q.per_page !== undefined) {
    const page = { page: q.page ?? 1, perPage: q.per_page ?? 20 };
    if (page.page > MAX_LEGACY_PAGE || page.page * page.perPage > MAX_LEGACY_WINDOW) {
      throw new HttpError(400, "legacy_offset_pagination_limit_exceeded", {
        extra: {
          message: "legacy_offset_pagination_limit_exceeded",
          detail: `Page ${page.page} exceeds the maximum supported legacy offset page (${MAX_LEGACY_PAGE}). Use cursor pagination with limit, after, and before.`,
          requested_page: page.page,
          requested_per_page: page.perPage,
          requested_window: page.page * page.perPage,
          max_page: MAX_LEGACY_PAGE,
          max_window: MAX_LEGACY_WINDOW,
          cursor_example: `${ctx.config.publicUrl}/platform/v1/whatsapp/contacts?limit=${page.perPage}`,
        },
      });
    }
    const { rows, total } = await store.listContactsByOffset(ctx.db, projectId, filters, page);
    return { kind: "offset" as const, page: offsetPage(rows.map(presentContact), total, page) };
  }
  const params = { limit: q.limit ?? 20, before: q.before, after: q.after };
  const { rows, direction } = await store.listContactsByCursor(ctx.db, projectId, filters, params);
  const page = cursorPage(rows, params, direction, (r) => ({
    column: "created_at",
    value: r.created_at,
    id: r.id,
  }));
  return { kind: "cursor" as const, page: { data: page.data.map(presentContact), paging: page.paging } };
}

export async function createContact(ctx: AppContext, projectId: string, input: CreateContactInput) {
  const waId = normalizeWaId("contact.wa_id", input.wa_id);
  await checkCustomer(ctx, projectId, input.customer_id);
  const row = await store.insertContact(ctx.db, projectId, {
    waId,
    profileName: input.profile_name ?? null,
    displayName: input.display_name ?? null,
    customerId: input.customer_id ?? null,
    metadata: input.metadata ?? {},
  });
  if (!row) throw conflict(`A contact with wa_id ${waId} already exists`);
  return presentContact(row);
}

export async function getContact(ctx: AppContext, projectId: string, identifier: string) {
  return presentContact(await requireContact(ctx, projectId, identifier));
}

/** Updates the given fields; `metadata` replaces the stored object. */
export async function updateContact(
  ctx: AppContext,
  projectId: string,
  identifier: string,
  input: UpdateContactInput,
) {
  const existing = await requireContact(ctx, projectId, identifier);
  await checkCustomer(ctx, projectId, input.customer_id);
  const waId = input.wa_id === undefined ? undefined : normalizeWaId("contact.wa_id", input.wa_id);
  if (waId && waId !== existing.wa_id && (await store.findContact(ctx.db, projectId, waId))) {
    throw conflict(`A contact with wa_id ${waId} already exists`);
  }
  const row = await store.updateContact(ctx.db, projectId, existing.id, {
    wa_id: waId,
    profile_name: input.profile_name,
    display_name: input.display_name,
    customer_id: input.customer_id,
    metadata: input.metadata,
  });
  if (!row) throw notFound("Contact");
  // Open inboxes show the contact's name: tell them about each of its conversations.
  await announceToInboxes(
    ctx.db,
    ...(await conversationIdsOfContact(ctx.db, projectId, row.id)).map((conversationId) => ({
      type: "inbox.contact.updated",
      projectId,
      conversationId,
    })),
  );
  return presentContact(row);
}

/**
 * Erases the contact with its conversations and messages (foreign keys cascade), and the
 * webhook deliveries and buffered events that carry them or the contact's details, delivered
 * or not. Done at once in one transaction; the 204 therefore means the data is already gone.
 */
export async function eraseContact(ctx: AppContext, projectId: string, identifier: string) {
  if (/^\+?[\d\s()-]+$/.test(identifier)) normalizeWaId("identifier", identifier);
  const existing = await requireContact(ctx, projectId, identifier);
  await ctx.db.transaction(async (tx) => {
    await tx.query(sql`
      WITH erased_conversations AS (
        SELECT id FROM conversations WHERE project_id = ${projectId} AND contact_id = ${existing.id}),
      deliveries AS (
        DELETE FROM webhook_deliveries
        WHERE project_id = ${projectId} AND (conversation_id IN (SELECT id FROM erased_conversations)
          OR payload->'contact'->>'id' = ${existing.id}::text))
      DELETE FROM webhook_buffer_items
      WHERE project_id = ${projectId} AND conversation_id IN (SELECT id FROM erased_conversations)`);
    await tx.query(sql`DELETE FROM contacts WHERE project_id = ${projectId} AND id = ${existing.id}`);
  });
}

interface PreferenceRow {
  id: string;
  phone_number_id: string;
  phone_number_ref: string;
  contact_id: string;
  status: "stopped" | "resumed";
  detail: string | null;
  source: "meta_webhook" | "meta_delivery_error" | "meta_synchronous_error";
  last_event_at: string;
  display_name: string | null;
  created_at: string;
  updated_at: string;
}

const presentPreference = (r: PreferenceRow) => ({
  id: r.phone_number_id,
  phone_number_id: r.phone_number_id,
  status: r.status,
  detail: r.detail,
  source: r.source,
  marketing_allowed: r.status !== "stopped",
  config_display_name: r.display_name,
  last_event_at: r.last_event_at,
  whatsapp_contact_id: r.contact_id,
  internal_id: r.id,
  whatsapp_config_id: r.phone_number_ref,
  whatsapp_config_internal_id: r.phone_number_ref,
  created_at: r.created_at,
  updated_at: r.updated_at,
});

const PREFERENCES = sql`
  SELECT mp.id, pn.phone_number_id, mp.phone_number_ref, mp.contact_id, mp.status, mp.detail, mp.source,
         mp.last_event_at, COALESCE(pn.display_name, pn.verified_name, pn.name) AS display_name,
         mp.created_at, mp.updated_at
  FROM marketing_preferences mp JOIN phone_numbers pn ON pn.id = mp.phone_number_ref`;

export async function listMarketingPreferences(ctx: AppContext, projectId: string, identifier: string) {
  const contact = await requireContact(ctx, projectId, identifier);
  const rows = await ctx.db.query<PreferenceRow>(
    sql`${PREFERENCES} WHERE mp.contact_id = ${contact.id} AND pn.deleted_at IS NULL ORDER BY mp.last_event_at DESC`,
  );
  return rows.map(presentPreference);
}

export async function getMarketingPreference(
  ctx: AppContext,
  projectId: string,
  identifier: string,
  phoneNumberId: string,
) {
  const contact = await store.findContact(ctx.db, projectId, identifier);
  if (!contact) throw new HttpError(404, "WhatsApp contact not found");
  const number = await findProjectPhoneNumber(ctx.db, projectId, phoneNumberId);
  if (!number) throw new HttpError(404, "WhatsApp configuration not found");
  const [row] = await ctx.db.query<PreferenceRow>(
    sql`${PREFERENCES} WHERE mp.contact_id = ${contact.id} AND mp.phone_number_ref = ${number.id}`,
  );
  if (!row) throw new HttpError(404, "Marketing preference not found");
  return presentPreference(row);
}
