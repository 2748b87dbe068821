import type { AppContext } from "../../context.ts";
import type { Queryable } from "../../db/database.ts";
import { publishEvents } from "../../events/publish.ts";
import { conflict, HttpError, invalid, notFound } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { isUuid } from "../../lib/ids.ts";
import { isMetaId, newSandboxId, sandboxNumberProfile } from "../../sandbox/numbers.ts";
import { setWabaSubscribed } from "../../sandbox/store.ts";
import { GraphApiError, type GraphTarget } from "../../whatsapp/graph-client.ts";
import { cancelOpenRequests } from "../display-names/store.ts";
import { presentPhoneNumber, type WhatsappPhoneNumber } from "./presenter.ts";
import type { CreatePhoneNumberInput, ListPhoneNumbersFilters, UpdatePhoneNumberInput } from "./schemas.ts";
import * as store from "./store.ts";

/** The fields Parley reads from Meta's `GET /{phone_number_id}`. */
export const NUMBER_INFO_FIELDS = [
  "id",
  "display_phone_number",
  "verified_name",
  "quality_rating",
  "code_verification_status",
  "name_status",
  "status",
  "messaging_limit_tier",
  "throughput",
  "is_official_business_account",
  "is_pin_enabled",
].join(",");

/** `TIER_10K` → `"10000"`: Kapso's `whatsapp_business_manager_messaging_limit`. */
export function messagingLimitOf(tier: string | undefined): string | null {
  if (!tier) return null;
  if (tier === "TIER_UNLIMITED") return "UNLIMITED";
  const match = /^TIER_(\d+)(K?)$/.exec(tier);
  if (!match) return null;
  return String(Number(match[1]) * (match[2] ? 1000 : 1));
}

/** The columns Meta's `GET /{phone_number_id}` fills, from its answer. */
export function metaFields(info: Record<string, unknown>): store.PhoneNumberChanges {
  const text = (key: string) => (typeof info[key] === "string" ? (info[key] as string) : null);
  const display = text("display_phone_number");
  const tier = text("messaging_limit_tier") ?? undefined;
  return {
    display_phone_number: display,
    display_phone_number_normalized: display ? display.replace(/\D/g, "") : null,
    verified_name: text("verified_name"),
    quality_rating: text("quality_rating"),
    code_verification_status: text("code_verification_status"),
    name_status: text("name_status"),
    status: text("status"),
    throughput_tier: tier ?? null,
    messaging_limit: messagingLimitOf(tier),
    is_official_business_account:
      typeof info.is_official_business_account === "boolean" ? info.is_official_business_account : null,
    is_pin_enabled: typeof info.is_pin_enabled === "boolean" ? info.is_pin_enabled : null,
  };
}

function metaTarget(ctx: AppContext, accessToken: string): GraphTarget {
  return { baseUrl: ctx.config.meta.graphUrl, version: ctx.config.meta.graphVersion, accessToken };
}

/**
 * Reads a production number from Meta with the caller's credentials. Meta's refusal is the
 * caller's problem (422 with Meta's message); Meta being unreachable or failing is not (502).
 */
async function readFromMeta(ctx: AppContext, phoneNumberId: string, accessToken: string) {
  try {
    return await ctx.graph.request<Record<string, unknown>>(metaTarget(ctx, accessToken), {
      path: `/${phoneNumberId}`,
      query: { fields: NUMBER_INFO_FIELDS },
    });
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    if (err.status === 0 || err.status >= 500 || err.status === 429) {
      throw new HttpError(502, `The WhatsApp Cloud API could not check the number: ${err.error.message}`);
    }
    if (err.error.code === 190 || err.error.code === 102 || err.status === 401) {
      throw invalid("access_token", `was refused by Meta: ${err.error.message}`);
    }
    if (err.error.code === 100 && err.error.error_subcode === 33) {
      throw invalid("phone_number_id", `was not found by Meta with this access token: ${err.error.message}`);
    }
    throw new HttpError(422, `Meta refused the phone number: ${err.error.message}`);
  }
}

/** Subscribes Parley's Meta app to the WABA's webhooks, as onboarding does. Best effort. */
async function subscribeToWaba(ctx: AppContext, wabaId: string, accessToken: string): Promise<void> {
  try {
    await ctx.graph.request(metaTarget(ctx, accessToken), {
      method: "POST",
      path: `/${wabaId}/subscribed_apps`,
    });
  } catch (err) {
    // The health check reports a missing subscription; connecting still succeeds.
    ctx.log.warn({ err, wabaId }, "could not subscribe the app to the WABA's webhooks");
  }
}

function requireMetaId(field: string, value: string | undefined): string {
  if (value === undefined) throw invalid(field, "is required for a production number");
  if (!isMetaId(value)) throw invalid(field, "must be Meta's numeric id");
  return value;
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === "23505";
}

async function requireUnusedMetaId(ctx: AppContext, phoneNumberId: string): Promise<void> {
  if (await store.findLivePhoneNumberByMetaId(ctx.db, phoneNumberId)) {
    throw conflict(`Phone number ${phoneNumberId} is already connected`);
  }
}

/** What a sandbox number of id `phoneNumberId` looks like from Meta's side. */
function sandboxFields(phoneNumberId: string): store.PhoneNumberChanges {
  return metaFields({ ...sandboxNumberProfile(phoneNumberId) });
}

export type ConnectPhoneNumberInput = CreatePhoneNumberInput & {
  /** Set by hosted onboarding when the number also runs the WhatsApp Business App. */
  is_coexistence?: boolean;
};

export interface ConnectOptions {
  /**
   * Runs inside the transaction that writes the number (hosted onboarding marks its setup link
   * used there); throwing rolls the whole change back.
   */
  inTransaction?: (tx: Queryable, row: store.PhoneNumberRow) => Promise<void>;
  /** The caller has already subscribed Parley's app to the WABA's webhooks. */
  subscribed?: boolean;
}

/**
 * Connects a number to a customer (the Platform API's "Connect phone number"; hosted
 * onboarding calls it too). A production number is read from Meta with the given token (422
 * with Meta's message when Meta refuses); a sandbox number needs no credentials: ids that are
 * not Meta-style digits (e.g. Kapso's placeholder `"sandbox"`) get fresh ones.
 */
export async function connectPhoneNumber(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  input: ConnectPhoneNumberInput,
  options: ConnectOptions = {},
): Promise<WhatsappPhoneNumber> {
  if (!isUuid(customerId) || !(await store.customerExists(ctx.db, projectId, customerId))) {
    throw notFound("Customer");
  }
  const kind = input.kind ?? "production";
  let fields: store.NewPhoneNumber;
  const common = {
    project_id: projectId,
    customer_id: customerId,
    kind,
    name: input.name.trim(),
    display_name: input.name.trim(),
    webhook_verify_token_encrypted: input.webhook_verify_token
      ? ctx.cipher.encrypt(input.webhook_verify_token)
      : null,
    webhook_destination_url: input.webhook_destination_url ?? null,
    inbound_processing_enabled: input.inbound_processing_enabled ?? true,
    calls_enabled: input.calls_enabled ?? false,
    is_coexistence: input.is_coexistence ?? false,
  };
  if (kind === "production") {
    const phoneNumberId = requireMetaId("phone_number_id", input.phone_number_id);
    const wabaId = requireMetaId("business_account_id", input.business_account_id);
    if (!input.access_token) throw invalid("access_token", "is required for a production number");
    await requireUnusedMetaId(ctx, phoneNumberId);
    const info = await readFromMeta(ctx, phoneNumberId, input.access_token);
    if (!options.subscribed) await subscribeToWaba(ctx, wabaId, input.access_token);
    fields = {
      ...common,
      phone_number_id: phoneNumberId,
      business_account_id: wabaId,
      access_token_encrypted: ctx.cipher.encrypt(input.access_token),
      ...metaFields(info),
    };
  } else {
    const phoneNumberId =
      input.phone_number_id && isMetaId(input.phone_number_id) ? input.phone_number_id : newSandboxId();
    const wabaId =
      input.business_account_id && isMetaId(input.business_account_id)
        ? input.business_account_id
        : newSandboxId();
    await requireUnusedMetaId(ctx, phoneNumberId);
    fields = {
      ...common,
      phone_number_id: phoneNumberId,
      business_account_id: wabaId,
      // The sandbox posts to Parley's own receiver, so its webhooks are verified from the start.
      webhook_verified_at: new Date().toISOString(),
      ...sandboxFields(phoneNumberId),
    };
  }
  try {
    const row = await ctx.db.transaction(async (tx) => {
      if (kind === "sandbox") await setWabaSubscribed(tx, fields.business_account_id!, true);
      const inserted = await store.insertPhoneNumber(tx, fields);
      await publishEvents(tx, [numberEvent("whatsapp.phone_number.created", inserted)]);
      await options.inTransaction?.(tx, inserted);
      return inserted;
    });
    return presentPhoneNumber(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`Phone number ${fields.phone_number_id} is already connected`);
    throw err;
  }
}

/** The `whatsapp.phone_number.*` event of `row` (payload as the webhook catalogue). */
export function numberEvent(type: string, row: store.PhoneNumberRow) {
  return {
    type,
    projectId: row.project_id,
    phoneNumberRef: row.id,
    payload: {
      phone_number_id: row.phone_number_id,
      project: { id: row.project_id },
      customer: row.customer_id ? { id: row.customer_id } : null,
    },
  };
}

/**
 * Gives a project a sandbox number of its own (a fresh Meta-style id in a fresh WABA), ready
 * to send and receive through the built-in sandbox. Used on the first start of an install.
 */
export async function createDefaultSandboxNumber(
  ctx: AppContext,
  projectId: string,
): Promise<WhatsappPhoneNumber> {
  const phoneNumberId = newSandboxId();
  const wabaId = newSandboxId();
  const row = await ctx.db.transaction(async (tx) => {
    await setWabaSubscribed(tx, wabaId, true);
    return store.insertPhoneNumber(tx, {
      project_id: projectId,
      kind: "sandbox",
      phone_number_id: phoneNumberId,
      business_account_id: wabaId,
      name: "Sandbox number",
      display_name: "Sandbox number",
      is_coexistence: false,
      webhook_verified_at: new Date().toISOString(),
      ...sandboxFields(phoneNumberId),
    });
  });
  return presentPhoneNumber(row);
}

export async function listPhoneNumbers(
  ctx: AppContext,
  projectId: string,
  filters: ListPhoneNumbersFilters,
  page: OffsetParams,
) {
  const { rows, total } = await store.listPhoneNumbers(
    ctx.db,
    projectId,
    {
      phoneNumberId: filters.phone_number_id,
      businessAccountId: filters.business_account_id,
      customerId: filters.customer_id,
      messagingEnabled: filters.messaging_enabled,
      nameContains: filters.name_contains,
      createdAfter: filters.created_after,
      createdBefore: filters.created_before,
    },
    page,
  );
  return offsetPage(rows.map(presentPhoneNumber), total, page);
}

export async function requirePhoneNumber(
  db: Queryable,
  projectId: string,
  phoneNumberId: string,
): Promise<store.PhoneNumberRow> {
  const row = await store.findProjectPhoneNumber(db, projectId, phoneNumberId);
  if (!row) throw notFound("Phone number");
  return row;
}

export async function getPhoneNumber(ctx: AppContext, projectId: string, phoneNumberId: string) {
  return presentPhoneNumber(await requirePhoneNumber(ctx.db, projectId, phoneNumberId));
}

/**
 * Partial update: rename, rotate credentials, toggle features, switch kind. New production
 * credentials (token, id, or a switch to production) are checked with Meta first; any change
 * drops the cached health check and its backoff.
 */
export async function updatePhoneNumber(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
  input: UpdatePhoneNumberInput,
  options: Pick<ConnectOptions, "inTransaction"> = {},
): Promise<WhatsappPhoneNumber> {
  const existing = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  const kind = input.kind ?? existing.kind;
  const changes: store.PhoneNumberChanges = {
    kind,
    name: input.name?.trim(),
    inbound_processing_enabled: input.inbound_processing_enabled,
    calls_enabled: input.calls_enabled,
    webhook_destination_url: input.webhook_destination_url,
  };
  if (input.webhook_verify_token !== undefined) {
    changes.webhook_verify_token_encrypted = input.webhook_verify_token
      ? ctx.cipher.encrypt(input.webhook_verify_token)
      : null;
  }
  if (kind === "production") {
    const switching = existing.kind !== "production";
    if (switching && input.phone_number_id === undefined) {
      throw invalid("phone_number_id", "is required when switching to production");
    }
    const newId = requireMetaId("phone_number_id", input.phone_number_id ?? existing.phone_number_id);
    const wabaId = requireMetaId(
      "business_account_id",
      input.business_account_id ?? existing.business_account_id ?? undefined,
    );
    const token =
      input.access_token ??
      (switching || !existing.access_token_encrypted
        ? undefined
        : ctx.cipher.decrypt(existing.access_token_encrypted));
    if (!token) throw invalid("access_token", "is required for a production number");
    if (newId !== existing.phone_number_id) await requireUnusedMetaId(ctx, newId);
    if (switching || input.access_token !== undefined || newId !== existing.phone_number_id) {
      Object.assign(changes, metaFields(await readFromMeta(ctx, newId, token)));
      if (switching || wabaId !== existing.business_account_id) await subscribeToWaba(ctx, wabaId, token);
    }
    Object.assign(changes, {
      phone_number_id: newId,
      business_account_id: wabaId,
      access_token_encrypted: input.access_token ? ctx.cipher.encrypt(input.access_token) : undefined,
    });
    if (switching) changes.webhook_verified_at = null;
  } else {
    if (input.access_token !== undefined) {
      throw invalid("access_token", "cannot be set on a sandbox number (the sandbox needs no credentials)");
    }
    const newId = input.phone_number_id ?? existing.phone_number_id;
    if (!isMetaId(newId)) throw invalid("phone_number_id", "must be a numeric id");
    if (newId !== existing.phone_number_id) await requireUnusedMetaId(ctx, newId);
    const wabaId = input.business_account_id ?? existing.business_account_id ?? newSandboxId();
    if (!isMetaId(wabaId) && wabaId !== existing.business_account_id) {
      throw invalid("business_account_id", "must be a numeric id");
    }
    Object.assign(changes, { phone_number_id: newId, business_account_id: wabaId });
    if (existing.kind !== "sandbox" || newId !== existing.phone_number_id) {
      Object.assign(changes, sandboxFields(newId), {
        access_token_encrypted: null,
        webhook_verified_at: new Date().toISOString(),
      });
    }
  }
  try {
    const row = await ctx.db.transaction(async (tx) => {
      if (kind === "sandbox") await setWabaSubscribed(tx, changes.business_account_id!, true);
      const updated = await store.updatePhoneNumber(tx, projectId, existing.id, changes);
      if (!updated) throw notFound("Phone number");
      await store.clearHealthState(tx, existing.id);
      await options.inTransaction?.(tx, updated);
      return updated;
    });
    return presentPhoneNumber(row);
  } catch (err) {
    if (isUniqueViolation(err))
      throw conflict(`Phone number ${changes.phone_number_id} is already connected`);
    throw err;
  }
}

/** Removes the number from the project (its messages stay, unlisted). */
export async function deletePhoneNumber(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
): Promise<void> {
  const existing = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  await ctx.db.transaction(async (tx) => {
    if (!(await store.softDeletePhoneNumber(tx, projectId, existing.id))) throw notFound("Phone number");
    await store.clearHealthState(tx, existing.id);
    await cancelOpenRequests(tx, [existing.id]);
    await publishEvents(tx, [numberEvent("whatsapp.phone_number.deleted", existing)]);
  });
}
