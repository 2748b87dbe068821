import sql, { join, raw, type Sql } from "sql-template-tag";
import { announcedCache } from "../../db/announced-cache.ts";
import type { Queryable } from "../../db/database.ts";
import { batchedLookup } from "../../db/group-commit.ts";
import { json, updateSet } from "../../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../../http/pagination.ts";
import { isUuid } from "../../lib/ids.ts";

/** A connected WhatsApp number as stored (secrets still encrypted). */
export interface PhoneNumberRow {
  /** Parley's internal id (the API's `internal_id`). */
  id: string;
  project_id: string;
  customer_id: string | null;
  kind: "production" | "sandbox";
  /** Meta's phone number id (the API's `id` and `phone_number_id`). */
  phone_number_id: string;
  business_account_id: string | null;
  name: string;
  access_token_encrypted: string | null;
  webhook_verify_token_encrypted: string | null;
  webhook_destination_url: string | null;
  inbound_processing_enabled: boolean;
  calls_enabled: boolean;
  is_coexistence: boolean | null;
  webhook_verified_at: string | null;
  display_name: string | null;
  display_phone_number: string | null;
  display_phone_number_normalized: string | null;
  verified_name: string | null;
  quality_rating: string | null;
  code_verification_status: string | null;
  name_status: string | null;
  status: string | null;
  throughput_tier: string | null;
  messaging_limit: string | null;
  is_official_business_account: boolean | null;
  is_pin_enabled: boolean | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export type NewPhoneNumber = Pick<PhoneNumberRow, "project_id" | "kind" | "phone_number_id" | "name"> &
  Partial<Omit<PhoneNumberRow, "id" | "created_at" | "updated_at" | "deleted_at">>;

const INSERTABLE = [
  "project_id",
  "customer_id",
  "kind",
  "phone_number_id",
  "business_account_id",
  "name",
  "access_token_encrypted",
  "webhook_verify_token_encrypted",
  "webhook_destination_url",
  "inbound_processing_enabled",
  "calls_enabled",
  "is_coexistence",
  "webhook_verified_at",
  "display_name",
  "display_phone_number",
  "display_phone_number_normalized",
  "verified_name",
  "quality_rating",
  "code_verification_status",
  "name_status",
  "status",
  "throughput_tier",
  "messaging_limit",
  "is_official_business_account",
  "is_pin_enabled",
] as const;

export async function insertPhoneNumber(db: Queryable, number: NewPhoneNumber): Promise<PhoneNumberRow> {
  const columns = INSERTABLE.filter((c) => number[c] !== undefined);
  const [row] = await db.query<PhoneNumberRow>(sql`
    INSERT INTO phone_numbers (${raw(columns.join(", "))})
    VALUES (${join(columns.map((c) => number[c]))})
    RETURNING *`);
  return row!;
}

/** A live (not deleted) number by Meta's id, whatever its project: how webhooks are routed. */
export async function findLivePhoneNumberByMetaId(
  db: Queryable,
  phoneNumberId: string,
): Promise<PhoneNumberRow | undefined> {
  const [row] = await db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE phone_number_id = ${phoneNumberId} AND deleted_at IS NULL`,
  );
  return row;
}

/** The live numbers among Meta's ids `phoneNumberIds` (unknown and deleted ones left out). */
export async function findLivePhoneNumbersByMetaIds(
  db: Queryable,
  phoneNumberIds: string[],
): Promise<PhoneNumberRow[]> {
  return db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE phone_number_id = ANY(${phoneNumberIds}::text[]) AND deleted_at IS NULL`,
  );
}

/**
 * `findLivePhoneNumberByMetaId` for the hot paths (Meta's webhooks, proxied sends), which
 * otherwise spent a statement on it per burst: live numbers are kept in memory until a change
 * to them is announced (migration 0021's trigger, payload Meta's id) or for 5 s; lookups
 * arriving together share one statement.
 */
export const lookUpLivePhoneNumber = announcedCache<PhoneNumberRow>({
  channel: "parley_phone_numbers",
  keepMs: 5_000,
  read: batchedLookup<string, PhoneNumberRow>(
    async (db, phoneNumberIds) =>
      new Map((await findLivePhoneNumbersByMetaIds(db, phoneNumberIds)).map((n) => [n.phone_number_id, n])),
  ),
});

/** A live number by Parley's own id, for a caller holding a reference Parley signed (media URLs). */
export async function findLivePhoneNumberByRef(
  db: Queryable,
  id: string,
): Promise<PhoneNumberRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE id = ${id} AND deleted_at IS NULL`,
  );
  return row;
}

/** A live number of one project by Meta's id; another project's number is not found. */
export async function findProjectPhoneNumber(
  db: Queryable,
  projectId: string,
  phoneNumberId: string,
): Promise<PhoneNumberRow | undefined> {
  const [row] = await db.query<PhoneNumberRow>(sql`
    SELECT * FROM phone_numbers
    WHERE project_id = ${projectId} AND phone_number_id = ${phoneNumberId} AND deleted_at IS NULL`);
  return row;
}

/** A project's live numbers of one kind, oldest first. */
export async function listProjectNumbersOfKind(
  db: Queryable,
  projectId: string,
  kind: PhoneNumberRow["kind"],
): Promise<PhoneNumberRow[]> {
  return db.query<PhoneNumberRow>(sql`
    SELECT * FROM phone_numbers
    WHERE project_id = ${projectId} AND kind = ${kind} AND deleted_at IS NULL
    ORDER BY created_at, id`);
}

export interface PhoneNumberFilters {
  phoneNumberId?: string;
  businessAccountId?: string;
  customerId?: string;
  messagingEnabled?: boolean;
  nameContains?: string;
  createdAfter?: string;
  createdBefore?: string;
}

function listConditions(projectId: string, f: PhoneNumberFilters): Sql[] {
  const conditions = [sql`project_id = ${projectId}`, sql`deleted_at IS NULL`];
  if (f.phoneNumberId) conditions.push(sql`phone_number_id = ${f.phoneNumberId}`);
  if (f.businessAccountId) conditions.push(sql`business_account_id = ${f.businessAccountId}`);
  if (f.customerId) conditions.push(sql`customer_id = ${f.customerId}`);
  if (f.messagingEnabled !== undefined) {
    conditions.push(
      f.messagingEnabled ? sql`status = 'CONNECTED'` : sql`(status IS DISTINCT FROM 'CONNECTED')`,
    );
  }
  if (f.nameContains) {
    conditions.push(sql`name ILIKE ${`%${f.nameContains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`);
  }
  if (f.createdAfter) conditions.push(sql`created_at > ${f.createdAfter}::timestamptz`);
  if (f.createdBefore) conditions.push(sql`created_at < ${f.createdBefore}::timestamptz`);
  return conditions;
}

export async function listPhoneNumbers(
  db: Queryable,
  projectId: string,
  filters: PhoneNumberFilters,
  page: OffsetParams,
): Promise<{ rows: PhoneNumberRow[]; total: number }> {
  const where = whereAll(listConditions(projectId, filters));
  const rows = await db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE ${where} ORDER BY created_at DESC, id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM phone_numbers WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

/** The columns a PATCH (or a refresh from Meta) may change. */
const MUTABLE_COLUMNS = [
  "kind",
  "phone_number_id",
  "business_account_id",
  "name",
  "access_token_encrypted",
  "webhook_verify_token_encrypted",
  "webhook_destination_url",
  "inbound_processing_enabled",
  "calls_enabled",
  "webhook_verified_at",
  "display_phone_number",
  "display_phone_number_normalized",
  "verified_name",
  "quality_rating",
  "code_verification_status",
  "name_status",
  "status",
  "throughput_tier",
  "messaging_limit",
  "is_official_business_account",
  "is_pin_enabled",
] as const;

export type PhoneNumberChanges = Partial<Pick<PhoneNumberRow, (typeof MUTABLE_COLUMNS)[number]>>;

export async function updatePhoneNumber(
  db: Queryable,
  projectId: string,
  id: string,
  changes: PhoneNumberChanges,
  options: { touch?: boolean } = {},
): Promise<PhoneNumberRow | undefined> {
  const [row] = await db.query<PhoneNumberRow>(sql`
    UPDATE phone_numbers SET ${updateSet(changes, MUTABLE_COLUMNS, options)}
    WHERE project_id = ${projectId} AND id = ${id} AND deleted_at IS NULL
    RETURNING *`);
  return row;
}

/** Removes a number from the API; its row (and history) stays, marked deleted. */
export async function softDeletePhoneNumber(db: Queryable, projectId: string, id: string): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE phone_numbers SET deleted_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND id = ${id} AND deleted_at IS NULL
    RETURNING id`);
  return rows.length > 0;
}

export async function customerExists(db: Queryable, projectId: string, customerId: string): Promise<boolean> {
  const rows = await db.query(
    sql`SELECT 1 FROM customers WHERE project_id = ${projectId} AND id = ${customerId}`,
  );
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Health checks: the cached result, the backoff, and the in-progress marker
// ---------------------------------------------------------------------------------------------

export interface HealthStateRow {
  phone_number_ref: string;
  payload: Record<string, unknown> | null;
  checked_at: string | null;
  expires_at: string | null;
  retry_after: string | null;
  backoff_step: number;
  checking_since: string | null;
}

export async function findHealthState(
  db: Queryable,
  phoneNumberRef: string,
): Promise<HealthStateRow | undefined> {
  const [row] = await db.query<HealthStateRow>(
    sql`SELECT * FROM phone_number_health WHERE phone_number_ref = ${phoneNumberRef}`,
  );
  return row;
}

/**
 * Marks a check of the number as running; false when another one started less than
 * `staleSeconds` ago (that one's result will do).
 */
export async function claimHealthCheck(
  db: Queryable,
  phoneNumberRef: string,
  staleSeconds: number,
): Promise<boolean> {
  const rows = await db.query(sql`
    INSERT INTO phone_number_health (phone_number_ref, checking_since) VALUES (${phoneNumberRef}, clock_timestamp())
    ON CONFLICT (phone_number_ref) DO UPDATE SET checking_since = clock_timestamp()
    WHERE phone_number_health.checking_since IS NULL
       OR phone_number_health.checking_since < clock_timestamp() - make_interval(secs => ${staleSeconds})
    RETURNING phone_number_ref`);
  return rows.length > 0;
}

/** Gives up a claimed check without running it (a fresh result was already there). */
export async function releaseHealthCheck(db: Queryable, phoneNumberRef: string): Promise<void> {
  await db.query(
    sql`UPDATE phone_number_health SET checking_since = NULL WHERE phone_number_ref = ${phoneNumberRef}`,
  );
}

export async function saveHealthResult(
  db: Queryable,
  phoneNumberRef: string,
  result: {
    payload: unknown;
    checkedAt: string;
    expiresAt: string;
    retryAfter: string | null;
    backoffStep: number;
  },
): Promise<void> {
  await db.query(sql`
    UPDATE phone_number_health
    SET payload = ${json(result.payload)}, checked_at = ${result.checkedAt}, expires_at = ${result.expiresAt},
        retry_after = ${result.retryAfter}, backoff_step = ${result.backoffStep}, checking_since = NULL
    WHERE phone_number_ref = ${phoneNumberRef}`);
}

/** Forgets the cached result and the backoff (the number's configuration changed). */
export async function clearHealthState(db: Queryable, phoneNumberRef: string): Promise<void> {
  await db.query(sql`DELETE FROM phone_number_health WHERE phone_number_ref = ${phoneNumberRef}`);
}
