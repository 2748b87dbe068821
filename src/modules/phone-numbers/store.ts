import sql, { join, raw } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";

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
