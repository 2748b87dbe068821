import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../db/database.ts";
import { json, recordset } from "../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../http/pagination.ts";
import { DEFAULT_SANDBOX_WABA } from "./numbers.ts";

// The sandbox's own state. Its Graph API stands in for Meta, so these queries are keyed by
// Meta's ids (phone number id, WABA id), not by project; the Platform-API-key controls check
// that a number belongs to the caller's project before they get here.

export interface SandboxSendRow {
  id: string;
  phone_number_id: string;
  wamid: string;
  recipient: string;
  type: string;
  body: Record<string, unknown>;
  created_at: string;
}

export type NewSend = Pick<SandboxSendRow, "phone_number_id" | "wamid" | "recipient" | "type" | "body">;

/** Records accepted sends in one statement. */
export async function insertSends(db: Queryable, sends: NewSend[]): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_sends (phone_number_id, wamid, recipient, type, body)
    SELECT phone_number_id, wamid, recipient, type, body
    FROM ${recordset(sends, sql`phone_number_id text, wamid text, recipient text, type text, body jsonb`)} AS s`);
}

export async function listSends(
  db: Queryable,
  filters: { phoneNumberId: string; recipient?: string },
  page: OffsetParams,
): Promise<{ rows: SandboxSendRow[]; total: number }> {
  const conditions: Sql[] = [sql`phone_number_id = ${filters.phoneNumberId}`];
  if (filters.recipient) conditions.push(sql`recipient = ${filters.recipient}`);
  const where = whereAll(conditions);
  const rows = await db.query<SandboxSendRow>(
    sql`SELECT * FROM sandbox_sends WHERE ${where} ORDER BY created_at DESC, id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM sandbox_sends WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

// ---------------------------------------------------------------------------------------------
// Injected failures
// ---------------------------------------------------------------------------------------------

export interface SandboxFailureRow {
  id: string;
  phone_number_id: string;
  operation: string;
  remaining: number;
  error: Record<string, unknown> & { code: number; message: string };
  http_status: number;
  mode: "sync" | "async";
  created_at: string;
}

export async function insertFailure(
  db: Queryable,
  failure: Pick<
    SandboxFailureRow,
    "phone_number_id" | "operation" | "remaining" | "error" | "http_status" | "mode"
  >,
): Promise<SandboxFailureRow> {
  const [row] = await db.query<SandboxFailureRow>(sql`
    INSERT INTO sandbox_failures (phone_number_id, operation, remaining, error, http_status, mode)
    VALUES (${failure.phone_number_id}, ${failure.operation}, ${failure.remaining}, ${json(failure.error)},
            ${failure.http_status}, ${failure.mode})
    RETURNING *`);
  return row!;
}

/**
 * Takes one use of the oldest pending failure for `operation` on any of `phoneNumberIds`,
 * atomically (two concurrent sends never consume the same last use). Concurrent sends wait
 * for each other's use rather than skip a row another holds, so an injection of N uses fails
 * the next N sends even when they arrive together.
 */
export async function consumeFailure(
  db: Queryable,
  phoneNumberIds: string[],
  operation: string,
): Promise<SandboxFailureRow | undefined> {
  if (phoneNumberIds.length === 0) return undefined;
  const [row] = await db.query<SandboxFailureRow>(sql`
    UPDATE sandbox_failures SET remaining = remaining - 1
    WHERE id = (
      SELECT id FROM sandbox_failures
      WHERE phone_number_id = ANY(${phoneNumberIds}::text[]) AND operation = ${operation} AND remaining > 0
      ORDER BY created_at, id
      LIMIT 1
      FOR UPDATE)
    RETURNING *`);
  return row;
}

export async function clearFailures(db: Queryable, phoneNumberId: string): Promise<number> {
  const rows = await db.query(
    sql`DELETE FROM sandbox_failures WHERE phone_number_id = ${phoneNumberId} RETURNING id`,
  );
  return rows.length;
}

// ---------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------

export interface SandboxMediaRow {
  id: string;
  phone_number_id: string;
  mime_type: string;
  sha256: string;
  file_size: number;
  filename: string | null;
  created_at: string;
  deleted_at: string | null;
}

export async function insertMedia(
  db: Queryable,
  media: Omit<SandboxMediaRow, "created_at" | "deleted_at"> & { data: Buffer },
): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_media (id, phone_number_id, mime_type, sha256, file_size, filename, data)
    VALUES (${media.id}, ${media.phone_number_id}, ${media.mime_type}, ${media.sha256}, ${media.file_size},
            ${media.filename}, ${media.data})`);
}

export async function findMedia(db: Queryable, id: string): Promise<SandboxMediaRow | undefined> {
  const [row] = await db.query<SandboxMediaRow>(sql`
    SELECT id, phone_number_id, mime_type, sha256, file_size, filename, created_at, deleted_at
    FROM sandbox_media WHERE id = ${id}`);
  return row;
}

export async function readMediaData(
  db: Queryable,
  id: string,
): Promise<{ mime_type: string; data: Buffer } | undefined> {
  const [row] = await db.query<{ mime_type: string; data: Uint8Array }>(
    sql`SELECT mime_type, data FROM sandbox_media WHERE id = ${id} AND deleted_at IS NULL`,
  );
  return row && { mime_type: row.mime_type, data: Buffer.from(row.data) };
}

/** Drops the bytes and marks the upload deleted; false when there is no live upload `id`. */
export async function deleteMedia(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE sandbox_media SET deleted_at = clock_timestamp(), data = ''::bytea
    WHERE id = ${id} AND deleted_at IS NULL
    RETURNING id`);
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Resumable uploads
// ---------------------------------------------------------------------------------------------

export interface SandboxUploadRow {
  id: string;
  app_id: string;
  file_name: string;
  file_length: number;
  file_type: string;
  file_offset: number;
  handle: string | null;
}

const UPLOAD_COLUMNS = sql`id, app_id, file_name, file_length::int AS file_length, file_type,
  octet_length(data) AS file_offset, handle`;

export async function insertUpload(
  db: Queryable,
  upload: Pick<SandboxUploadRow, "id" | "app_id" | "file_name" | "file_length" | "file_type">,
): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_uploads (id, app_id, file_name, file_length, file_type)
    VALUES (${upload.id}, ${upload.app_id}, ${upload.file_name}, ${upload.file_length}, ${upload.file_type})`);
}

export async function findUpload(db: Queryable, id: string): Promise<SandboxUploadRow | undefined> {
  const [row] = await db.query<SandboxUploadRow>(
    sql`SELECT ${UPLOAD_COLUMNS} FROM sandbox_uploads WHERE id = ${id}`,
  );
  return row;
}

/**
 * Appends `data` at `offset` when that is where the upload stands, and sets `handle` once the
 * file is complete; undefined when the offset does not match (nothing is written).
 */
export async function appendUpload(
  db: Queryable,
  id: string,
  offset: number,
  data: Buffer,
  handle: string,
): Promise<SandboxUploadRow | undefined> {
  const [row] = await db.query<SandboxUploadRow>(sql`
    UPDATE sandbox_uploads SET
      data = data || ${data},
      handle = CASE WHEN octet_length(data) + ${data.length} = file_length THEN ${handle} ELSE handle END
    WHERE id = ${id} AND octet_length(data) = ${offset} AND octet_length(data) + ${data.length} <= file_length
    RETURNING ${UPLOAD_COLUMNS}`);
  return row;
}

// ---------------------------------------------------------------------------------------------
// Templates and WABAs
// ---------------------------------------------------------------------------------------------

export interface SandboxTemplateRow {
  id: string;
  business_account_id: string;
  name: string;
  language: string;
  category: string;
  status: string;
  components: Record<string, unknown>[];
  rejected_reason: string | null;
  created_at: string;
  updated_at: string;
}

export type NewTemplate = Pick<
  SandboxTemplateRow,
  | "id"
  | "business_account_id"
  | "name"
  | "language"
  | "category"
  | "status"
  | "components"
  | "rejected_reason"
>;

/** Inserts a template; false when one with the same name and language exists in the WABA. */
export async function insertTemplate(db: Queryable, t: NewTemplate): Promise<boolean> {
  const rows = await db.query(sql`
    INSERT INTO sandbox_templates (id, business_account_id, name, language, category, status, components, rejected_reason)
    VALUES (${t.id}, ${t.business_account_id}, ${t.name}, ${t.language}, ${t.category}, ${t.status},
            ${json(t.components)}, ${t.rejected_reason})
    ON CONFLICT (business_account_id, name, language) DO NOTHING
    RETURNING id`);
  return rows.length > 0;
}

export async function templatesSeeded(db: Queryable, businessAccountId: string): Promise<boolean> {
  const [row] = await db.query<{ seeded: boolean }>(sql`
    SELECT templates_seeded_at IS NOT NULL AS seeded FROM sandbox_wabas
    WHERE business_account_id = ${businessAccountId}`);
  return row?.seeded ?? false;
}

/**
 * Marks the WABA's seed templates as created; true only for the caller that did it first, so
 * seeding happens once per WABA however many processes race.
 */
export async function claimTemplateSeeding(db: Queryable, businessAccountId: string): Promise<boolean> {
  await db.query(
    sql`INSERT INTO sandbox_wabas (business_account_id) VALUES (${businessAccountId}) ON CONFLICT DO NOTHING`,
  );
  const rows = await db.query(sql`
    UPDATE sandbox_wabas SET templates_seeded_at = clock_timestamp()
    WHERE business_account_id = ${businessAccountId} AND templates_seeded_at IS NULL
    RETURNING business_account_id`);
  return rows.length > 0;
}

export interface TemplateFilters {
  name?: string;
  status?: string;
  category?: string;
  language?: string;
}

function templateConditions(businessAccountId: string, f: TemplateFilters): Sql[] {
  const conditions = [sql`business_account_id = ${businessAccountId}`];
  if (f.name) conditions.push(sql`name = ${f.name}`);
  if (f.status) conditions.push(sql`status = ${f.status.toUpperCase()}`);
  if (f.category) conditions.push(sql`category = ${f.category.toUpperCase()}`);
  if (f.language) conditions.push(sql`language = ${f.language}`);
  return conditions;
}

/** Templates in id order (ids grow with time); `afterId`/`beforeId` page through them. */
export async function listTemplates(
  db: Queryable,
  businessAccountId: string,
  filters: TemplateFilters,
  page: { limit: number; afterId?: string; beforeId?: string },
): Promise<SandboxTemplateRow[]> {
  const conditions = templateConditions(businessAccountId, filters);
  if (page.afterId) conditions.push(sql`id > ${page.afterId}`);
  if (page.beforeId) conditions.push(sql`id < ${page.beforeId}`);
  const order = page.beforeId ? sql`ORDER BY id DESC` : sql`ORDER BY id ASC`;
  const rows = await db.query<SandboxTemplateRow>(
    sql`SELECT * FROM sandbox_templates WHERE ${whereAll(conditions)} ${order} LIMIT ${page.limit + 1}`,
  );
  return rows;
}

/** What a template send needs, found in one statement: every template send pays for it. */
export interface TemplateForSend {
  /** The number's WABA: its Parley record's, else the shared default sandbox WABA. */
  business_account_id: string;
  /** Whether the WABA's seed templates exist (until they do, a seed template is not found). */
  seeded: boolean;
  template?: Pick<SandboxTemplateRow, "status" | "category" | "components">;
}

/** A template send's number, template name and language. */
export interface TemplateSendKey {
  phoneNumberId: string;
  name: string;
  language: string;
}

/**
 * The template `name` in `language` of the WABA each key's number sends from, for many sends
 * in one statement, in the keys' order.
 */
export async function findTemplatesForSend(
  db: Queryable,
  keys: TemplateSendKey[],
): Promise<TemplateForSend[]> {
  const rows = await db.query<{
    ord: number;
    business_account_id: string;
    seeded: boolean;
    status: string | null;
    category: string;
    components: Record<string, unknown>[];
  }>(sql`
    SELECT k.ord, waba.id AS business_account_id,
           EXISTS (SELECT 1 FROM sandbox_wabas w
                   WHERE w.business_account_id = waba.id AND w.templates_seeded_at IS NOT NULL) AS seeded,
           t.status, t.category, t.components
    FROM ${recordset(
      keys.map((k, ord) => ({ ord, ...k })),
      sql`ord int, "phoneNumberId" text, name text, language text`,
    )} AS k
    CROSS JOIN LATERAL (SELECT COALESCE(
            (SELECT business_account_id FROM phone_numbers
             WHERE phone_number_id = k."phoneNumberId" AND deleted_at IS NULL),
            ${DEFAULT_SANDBOX_WABA}) AS id) AS waba
    LEFT JOIN sandbox_templates t
      ON t.business_account_id = waba.id AND t.name = k.name AND t.language = k.language
    ORDER BY k.ord`);
  return rows.map(({ business_account_id, seeded, status, category, components }) => ({
    business_account_id,
    seeded,
    ...(status === null ? {} : { template: { status, category, components } }),
  }));
}

/** Which of `phoneNumberIds` have an injected failure of `operation` with uses left. */
export async function numbersWithPendingFailures(
  db: Queryable,
  phoneNumberIds: string[],
  operation: string,
): Promise<string[]> {
  const rows = await db.query<{ phone_number_id: string }>(sql`
    SELECT DISTINCT phone_number_id FROM sandbox_failures
    WHERE phone_number_id = ANY(${phoneNumberIds}::text[]) AND operation = ${operation} AND remaining > 0`);
  return rows.map((r) => r.phone_number_id);
}

export async function findTemplateById(db: Queryable, id: string): Promise<SandboxTemplateRow | undefined> {
  const [row] = await db.query<SandboxTemplateRow>(sql`SELECT * FROM sandbox_templates WHERE id = ${id}`);
  return row;
}

export async function deleteTemplates(
  db: Queryable,
  businessAccountId: string,
  name: string,
  id?: string,
): Promise<number> {
  const rows = await db.query(sql`
    DELETE FROM sandbox_templates
    WHERE business_account_id = ${businessAccountId} AND name = ${name} ${id ? sql`AND id = ${id}` : sql``}
    RETURNING id`);
  return rows.length;
}

export async function setWabaSubscribed(db: Queryable, businessAccountId: string, subscribed: boolean) {
  await db.query(sql`
    INSERT INTO sandbox_wabas (business_account_id, subscribed_at)
    VALUES (${businessAccountId}, ${subscribed ? sql`clock_timestamp()` : sql`NULL`})
    ON CONFLICT (business_account_id) DO UPDATE SET subscribed_at = EXCLUDED.subscribed_at`);
}

export async function wabaSubscribedAt(db: Queryable, businessAccountId: string): Promise<string | null> {
  const [row] = await db.query<{ subscribed_at: string | null }>(
    sql`SELECT subscribed_at FROM sandbox_wabas WHERE business_account_id = ${businessAccountId}`,
  );
  return row?.subscribed_at ?? null;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

export interface SandboxNumberState {
  phone_number_id: string;
  registered_at: string | null;
  business_profile: Record<string, unknown>;
  settings: Record<string, unknown>;
  code_requested_at: string | null;
}

export async function findNumberState(
  db: Queryable,
  phoneNumberId: string,
): Promise<SandboxNumberState | undefined> {
  const [row] = await db.query<SandboxNumberState>(sql`
    SELECT phone_number_id, registered_at, business_profile, settings, code_requested_at FROM sandbox_numbers
    WHERE phone_number_id = ${phoneNumberId}`);
  return row;
}

/** The number's stored settings, its row locked until the transaction ends (created if new). */
export async function lockSettings(tx: Queryable, phoneNumberId: string): Promise<Record<string, unknown>> {
  await tx.query(sql`
    INSERT INTO sandbox_numbers (phone_number_id) VALUES (${phoneNumberId}) ON CONFLICT (phone_number_id) DO NOTHING`);
  const [row] = await tx.query<{ settings: Record<string, unknown> }>(sql`
    SELECT settings FROM sandbox_numbers WHERE phone_number_id = ${phoneNumberId} FOR UPDATE`);
  return row!.settings;
}

/** Replaces the number's stored settings (locked and merged by the caller). */
export async function saveSettings(
  tx: Queryable,
  phoneNumberId: string,
  settings: Record<string, unknown>,
): Promise<void> {
  await tx.query(sql`
    UPDATE sandbox_numbers SET settings = ${json(settings)}, updated_at = clock_timestamp()
    WHERE phone_number_id = ${phoneNumberId}`);
}

/** Records a verification-code request (`request_code`). */
export async function markCodeRequested(db: Queryable, phoneNumberId: string): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_numbers (phone_number_id, code_requested_at) VALUES (${phoneNumberId}, clock_timestamp())
    ON CONFLICT (phone_number_id) DO UPDATE
    SET code_requested_at = clock_timestamp(), updated_at = clock_timestamp()`);
}

/** Ends the pending verification-code request; false when there was none. */
export async function takeCodeRequest(db: Queryable, phoneNumberId: string): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE sandbox_numbers SET code_requested_at = NULL, updated_at = clock_timestamp()
    WHERE phone_number_id = ${phoneNumberId} AND code_requested_at IS NOT NULL
    RETURNING phone_number_id`);
  return rows.length > 0;
}

export async function markRegistered(db: Queryable, phoneNumberId: string, registered: boolean) {
  const at = registered ? sql`clock_timestamp()` : sql`NULL`;
  await db.query(sql`
    INSERT INTO sandbox_numbers (phone_number_id, registered_at) VALUES (${phoneNumberId}, ${at})
    ON CONFLICT (phone_number_id) DO UPDATE SET registered_at = ${at}, updated_at = clock_timestamp()`);
}

/** Merges `changes` into the number's business profile. */
export async function mergeBusinessProfile(
  db: Queryable,
  phoneNumberId: string,
  changes: Record<string, unknown>,
): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_numbers (phone_number_id, business_profile) VALUES (${phoneNumberId}, ${json(changes)})
    ON CONFLICT (phone_number_id) DO UPDATE
    SET business_profile = sandbox_numbers.business_profile || EXCLUDED.business_profile,
        updated_at = clock_timestamp()`);
}

/** Parley's live numbers, as the sandbox sees them (any project). */
export interface KnownNumber {
  phone_number_id: string;
  business_account_id: string | null;
  kind: "production" | "sandbox";
}

export async function findKnownNumber(
  db: Queryable,
  phoneNumberId: string,
): Promise<KnownNumber | undefined> {
  const [row] = await db.query<KnownNumber>(sql`
    SELECT phone_number_id, business_account_id, kind FROM phone_numbers
    WHERE phone_number_id = ${phoneNumberId} AND deleted_at IS NULL`);
  return row;
}

export async function listKnownNumbersOfWaba(
  db: Queryable,
  businessAccountId: string,
): Promise<KnownNumber[]> {
  return db.query<KnownNumber>(sql`
    SELECT phone_number_id, business_account_id, kind FROM phone_numbers
    WHERE business_account_id = ${businessAccountId} AND deleted_at IS NULL
    ORDER BY created_at, id`);
}
