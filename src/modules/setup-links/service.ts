import type { AppContext } from "../../context.ts";
import { invalid, notFound, unprocessable } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { hashSecret, newSecret } from "../../security/secrets.ts";
import { findCustomer } from "../customers/store.ts";
import type { CreateSetupLinkInput, ListSetupLinksFilters, UpdateSetupLinkInput } from "./schemas.ts";
import * as store from "./store.ts";

const DEFAULT_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;

function present(ctx: AppContext, row: store.SetupLinkRow) {
  return {
    id: row.id,
    status: row.status,
    created_at: row.created_at,
    expires_at: row.expires_at,
    url: `${ctx.config.publicUrl}/setup/${ctx.cipher.decrypt(row.token_encrypted)}`,
    success_redirect_url: row.success_redirect_url,
    failure_redirect_url: row.failure_redirect_url,
    allowed_origins: row.allowed_origins,
    allowed_connection_types: row.allowed_connection_types,
    meta_billing_mode: row.meta_billing_mode,
    theme_config: row.theme_config,
    provision_phone_number: row.provision_phone_number,
    phone_number_area_code: row.phone_number_area_code,
    phone_number_country_isos: row.phone_number_country_isos,
    reconnect_phone_number: row.reconnect_phone_number,
    language: row.language,
    whatsapp_setup_status: row.whatsapp_setup_status,
    whatsapp_setup_error: row.whatsapp_setup_error,
    provisioned_phone_number: row.provisioned_phone_number,
  };
}

async function requireCustomer(ctx: AppContext, projectId: string, customerId: string) {
  if (!(await findCustomer(ctx.db, projectId, customerId))) throw notFound("Customer");
}

/** Browser origins: `https://host[:port]`, no path (the SDK runs in those pages). */
function checkOrigins(origins: string[] | undefined): string[] | undefined {
  return origins?.map((origin, i) => {
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    if (url?.protocol !== "https:" || url.origin !== origin.replace(/\/$/, "")) {
      throw invalid(
        `setup_link.allowed_origins[${i}]`,
        "must be an HTTPS origin such as https://app.example.com",
      );
    }
    return url.origin;
  });
}

function checkRedirect(field: string, value: string | null | undefined) {
  if (value && !/^https?:\/\//i.test(value))
    throw invalid(`setup_link.${field}`, "must be a valid http(s) URL");
}

export async function listSetupLinks(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  q: ListSetupLinksFilters,
  page: OffsetParams,
) {
  await requireCustomer(ctx, projectId, customerId);
  const { rows, total } = await store.listSetupLinks(
    ctx.db,
    projectId,
    customerId,
    { status: q.status, createdAfter: q.created_after, createdBefore: q.created_before },
    page,
  );
  return offsetPage(
    rows.map((r) => present(ctx, r)),
    total,
    page,
  );
}

/**
 * Creates the customer's link (revoking its other active ones). `reconnect_phone_number` must
 * name one of the customer's production numbers; it then locks the connection type to that
 * number's and turns provisioning off.
 */
export async function createSetupLink(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  input: CreateSetupLinkInput,
) {
  await requireCustomer(ctx, projectId, customerId);
  checkRedirect("success_redirect_url", input.success_redirect_url);
  checkRedirect("failure_redirect_url", input.failure_redirect_url);
  let connectionTypes: string[] = [
    ...new Set(input.allowed_connection_types ?? ["coexistence", "dedicated"]),
  ];
  let provision = input.provision_phone_number ?? false;
  let reconnect: string | null = null;
  if (input.reconnect_phone_number) {
    reconnect = input.reconnect_phone_number.replace(/[\s()+.-]/g, "");
    if (!/^\d{6,20}$/.test(reconnect))
      throw invalid("setup_link.reconnect_phone_number", "must be a phone number in E.164 format");
    if (provision)
      throw invalid("setup_link.provision_phone_number", "must be false when reconnect_phone_number is set");
    const number = await store.findReconnectableNumber(ctx.db, projectId, customerId, reconnect);
    if (!number) {
      throw invalid(
        "setup_link.reconnect_phone_number",
        "must be a production number connected to this customer",
      );
    }
    const existing = number.is_coexistence ? "coexistence" : "dedicated";
    if (input.allowed_connection_types && (connectionTypes.length !== 1 || connectionTypes[0] !== existing)) {
      throw invalid(
        "setup_link.allowed_connection_types",
        `must be ["${existing}"] to reconnect this number`,
      );
    }
    connectionTypes = [existing];
    provision = false;
  }
  const token = newSecret("setup");
  const id = await ctx.db.transaction((tx) =>
    store.insertSetupLink(tx, {
      projectId,
      customerId,
      tokenHash: hashSecret(token),
      tokenEncrypted: ctx.cipher.encrypt(token),
      expiresAt: new Date(Date.now() + DEFAULT_LIFETIME_MS).toISOString(),
      successRedirectUrl: input.success_redirect_url ?? null,
      failureRedirectUrl: input.failure_redirect_url ?? null,
      allowedOrigins: checkOrigins(input.allowed_origins) ?? [],
      allowedConnectionTypes: connectionTypes,
      metaBillingMode: input.meta_billing_mode ?? "customer_managed",
      themeConfig: (input.theme_config as Record<string, string> | null | undefined) ?? null,
      provisionPhoneNumber: provision,
      phoneNumberAreaCode: input.phone_number_area_code ?? null,
      phoneNumberCountryIsos: input.phone_number_country_isos ?? ["US"],
      reconnectPhoneNumber: reconnect,
      language: input.language ?? null,
    }),
  );
  const row = (await store.findSetupLink(ctx.db, projectId, customerId, id))!;
  return { ...present(ctx, row), token };
}

export async function updateSetupLink(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  id: string,
  input: UpdateSetupLinkInput,
) {
  await requireCustomer(ctx, projectId, customerId);
  const existing = await store.findSetupLink(ctx.db, projectId, customerId, id);
  if (!existing) throw notFound("Setup link");
  if (input.meta_billing_mode !== undefined)
    throw unprocessable("setup_link.meta_billing_mode cannot be changed after creation");
  if (input.reconnect_phone_number !== undefined)
    throw unprocessable("setup_link.reconnect_phone_number cannot be changed after creation");
  if (input.status === "used") throw invalid("setup_link.status", "cannot be set to used");
  if (input.status === "expired")
    throw invalid("setup_link.status", "cannot be set to expired; set expires_at instead");
  if (existing.status === "used") throw unprocessable("Setup link has been used and cannot be changed");
  if (input.status === "active" && existing.status === "revoked") {
    throw invalid("setup_link.status", "cannot reactivate a revoked link; create a new one");
  }
  checkRedirect("success_redirect_url", input.success_redirect_url);
  checkRedirect("failure_redirect_url", input.failure_redirect_url);
  if (existing.reconnect_phone_number && input.allowed_connection_types) {
    throw invalid("setup_link.allowed_connection_types", "is locked for a reconnection link");
  }
  await store.updateSetupLink(ctx.db, projectId, id, {
    success_redirect_url: input.success_redirect_url,
    failure_redirect_url: input.failure_redirect_url,
    allowed_origins: checkOrigins(input.allowed_origins),
    provision_phone_number: existing.reconnect_phone_number ? undefined : input.provision_phone_number,
    phone_number_area_code: input.phone_number_area_code,
    expires_at: input.expires_at,
    status: input.status,
    allowed_connection_types: input.allowed_connection_types && [...new Set(input.allowed_connection_types)],
    theme_config: input.theme_config,
    phone_number_country_isos: input.phone_number_country_isos,
    language: input.language,
  });
  return present(ctx, (await store.findSetupLink(ctx.db, projectId, customerId, id))!);
}
