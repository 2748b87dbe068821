import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { json, updateSet } from "../../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../../http/pagination.ts";
import { hashSecret } from "../../security/secrets.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";

export interface SetupLinkRow {
  id: string;
  project_id: string;
  customer_id: string;
  token_encrypted: string;
  /** `expired` is computed from `expires_at` when read, so it never lags behind the clock. */
  status: "active" | "used" | "expired" | "revoked";
  created_at: string;
  expires_at: string | null;
  success_redirect_url: string | null;
  failure_redirect_url: string | null;
  allowed_origins: string[];
  allowed_connection_types: ("coexistence" | "dedicated")[];
  meta_billing_mode: "customer_managed" | "partner_managed";
  theme_config: Record<string, string> | null;
  provision_phone_number: boolean;
  phone_number_area_code: string | null;
  phone_number_country_isos: string[];
  reconnect_phone_number: string | null;
  language: string | null;
  whatsapp_setup_status: "pending" | "processing" | "completed" | "failed";
  whatsapp_setup_error: string | null;
  provisioned_phone_number: Record<string, unknown> | null;
  used_at: string | null;
  /** The number the link's onboarding connected (set when it was used). */
  phone_number_ref: string | null;
  updated_at: string;
}

const STATUS = sql`CASE WHEN l.status = 'active' AND l.expires_at <= clock_timestamp() THEN 'expired' ELSE l.status END`;
const SELECT = sql`SELECT l.*, ${STATUS} AS status FROM setup_links l`;

export async function listSetupLinks(
  db: Queryable,
  projectId: string,
  customerId: string,
  f: { status?: string; createdAfter?: string; createdBefore?: string },
  page: OffsetParams,
) {
  const c: Sql[] = [sql`l.project_id = ${projectId}`, sql`l.customer_id = ${customerId}`];
  if (f.status) c.push(sql`${STATUS} = ${f.status}`);
  if (f.createdAfter) c.push(sql`l.created_at > ${f.createdAfter}`);
  if (f.createdBefore) c.push(sql`l.created_at < ${f.createdBefore}`);
  const where = whereAll(c);
  const rows = await db.query<SetupLinkRow>(
    sql`${SELECT} WHERE ${where} ORDER BY l.created_at DESC, l.id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM setup_links l WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

export async function findSetupLink(db: Queryable, projectId: string, customerId: string, id: string) {
  const [row] = await db.query<SetupLinkRow>(
    sql`${SELECT} WHERE l.project_id = ${projectId} AND l.customer_id = ${customerId} AND l.id = ${id}`,
  );
  return row;
}

/** The link of a raw token (its SHA-256), for the hosted onboarding page. */
export async function findSetupLinkByTokenHash(db: Queryable, tokenHash: string) {
  const [row] = await db.query<SetupLinkRow>(sql`${SELECT} WHERE l.token_hash = ${tokenHash}`);
  return row;
}

/** The link of a raw token as the hosted onboarding page receives it; undefined when unknown. */
export async function findSetupLinkByToken(db: Queryable, token: string) {
  return findSetupLinkByTokenHash(db, hashSecret(token));
}

/**
 * Marks a link used by the onboarding that connected `phoneNumber`, in the caller's
 * transaction (the one that creates the number). Only an active, unexpired link can be used,
 * and only once: undefined when it was not (already used, revoked or expired), so the caller
 * rolls back and answers `already_used` / `link_expired`.
 */
export async function markSetupLinkUsed(
  tx: Queryable,
  id: string,
  phoneNumber: Pick<PhoneNumberRow, "id">,
): Promise<SetupLinkRow | undefined> {
  const [row] = await tx.query<SetupLinkRow>(sql`
    UPDATE setup_links l
    SET status = 'used', whatsapp_setup_status = 'completed', whatsapp_setup_error = NULL,
        used_at = clock_timestamp(), phone_number_ref = ${phoneNumber.id}, updated_at = clock_timestamp()
    WHERE l.id = ${id} AND l.status = 'active' AND (l.expires_at IS NULL OR l.expires_at > clock_timestamp())
    RETURNING *`);
  return row;
}

/** How long an onboarding in progress holds its link before another attempt may take over. */
const ONBOARDING_LEASE = sql`interval '5 minutes'`;

/**
 * Starts an onboarding on an active, unexpired link: `whatsapp_setup_status` becomes
 * `processing`. False when the link cannot be used or another onboarding holds it (for up to
 * five minutes, so a crashed attempt does not block the link for good).
 */
export async function claimSetupLink(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE setup_links l
    SET whatsapp_setup_status = 'processing', whatsapp_setup_error = NULL, updated_at = clock_timestamp()
    WHERE l.id = ${id} AND l.status = 'active' AND (l.expires_at IS NULL OR l.expires_at > clock_timestamp())
      AND (l.whatsapp_setup_status <> 'processing' OR l.updated_at < clock_timestamp() - ${ONBOARDING_LEASE})
    RETURNING l.id`);
  return rows.length === 1;
}

/** Records a failed onboarding on a link still active (the link stays usable for another try). */
export async function recordSetupFailure(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(sql`
    UPDATE setup_links SET whatsapp_setup_status = 'failed', whatsapp_setup_error = ${error},
      updated_at = clock_timestamp()
    WHERE id = ${id} AND status = 'active'`);
}

/** The customer's live production number with these E.164 digits: what a reconnection link targets. */
export async function findReconnectableNumber(
  db: Queryable,
  projectId: string,
  customerId: string,
  digits: string,
): Promise<Pick<PhoneNumberRow, "id" | "phone_number_id" | "is_coexistence"> | undefined> {
  const [row] = await db.query<Pick<PhoneNumberRow, "id" | "phone_number_id" | "is_coexistence">>(sql`
    SELECT id, phone_number_id, is_coexistence FROM phone_numbers
    WHERE project_id = ${projectId} AND customer_id = ${customerId} AND kind = 'production'
      AND deleted_at IS NULL AND display_phone_number_normalized = ${digits}`);
  return row;
}

export interface NewSetupLink {
  projectId: string;
  customerId: string;
  tokenHash: string;
  tokenEncrypted: string;
  expiresAt: string;
  successRedirectUrl: string | null;
  failureRedirectUrl: string | null;
  allowedOrigins: string[];
  allowedConnectionTypes: string[];
  metaBillingMode: string;
  themeConfig: Record<string, string> | null;
  provisionPhoneNumber: boolean;
  phoneNumberAreaCode: string | null;
  phoneNumberCountryIsos: string[];
  reconnectPhoneNumber: string | null;
  language: string | null;
}

/**
 * Creates a link and revokes the customer's other active links: one active link per customer.
 * A link already past its expiry stays `expired`.
 */
export async function insertSetupLink(tx: Queryable, l: NewSetupLink): Promise<string> {
  await tx.query(sql`
    UPDATE setup_links SET status = 'revoked', updated_at = clock_timestamp()
    WHERE project_id = ${l.projectId} AND customer_id = ${l.customerId} AND status = 'active'
      AND (expires_at IS NULL OR expires_at > clock_timestamp())`);
  const [row] = await tx.query<{ id: string }>(sql`
    INSERT INTO setup_links (project_id, customer_id, token_hash, token_encrypted, expires_at, success_redirect_url,
      failure_redirect_url, allowed_origins, allowed_connection_types, meta_billing_mode, theme_config,
      provision_phone_number, phone_number_area_code, phone_number_country_isos, reconnect_phone_number, language)
    VALUES (${l.projectId}, ${l.customerId}, ${l.tokenHash}, ${l.tokenEncrypted}, ${l.expiresAt}, ${l.successRedirectUrl},
      ${l.failureRedirectUrl}, ${l.allowedOrigins}, ${l.allowedConnectionTypes}, ${l.metaBillingMode},
      ${l.themeConfig === null ? null : json(l.themeConfig)}, ${l.provisionPhoneNumber}, ${l.phoneNumberAreaCode},
      ${l.phoneNumberCountryIsos}, ${l.reconnectPhoneNumber}, ${l.language})
    RETURNING id`);
  return row!.id;
}

const MUTABLE = [
  "success_redirect_url",
  "failure_redirect_url",
  "allowed_origins",
  "provision_phone_number",
  "phone_number_area_code",
  "expires_at",
  "status",
  "allowed_connection_types",
  "theme_config",
  "phone_number_country_isos",
  "language",
] as const;

export async function updateSetupLink(
  db: Queryable,
  projectId: string,
  id: string,
  changes: Partial<Record<(typeof MUTABLE)[number], unknown>>,
): Promise<void> {
  const bound = {
    ...changes,
    theme_config:
      changes.theme_config === undefined
        ? undefined
        : changes.theme_config === null
          ? null
          : json(changes.theme_config),
  };
  await db.query(
    sql`UPDATE setup_links SET ${updateSet(bound, MUTABLE)} WHERE project_id = ${projectId} AND id = ${id}`,
  );
}
