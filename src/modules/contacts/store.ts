import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { json, recordset, updateSet } from "../../db/sql.ts";
import {
  type CursorParams,
  cursorQuery,
  limitOffset,
  type OffsetParams,
  whereAll,
} from "../../http/pagination.ts";
import { isUuid } from "../../lib/ids.ts";

export interface ContactRow {
  id: string;
  project_id: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  profile_name: string | null;
  display_name: string | null;
  customer_id: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

/**
 * The contact with WhatsApp id `waId` in the project, created when new (`inserted`). A newer
 * profile name from WhatsApp replaces the stored one; concurrent webhooks for a new person make
 * one row.
 */
export async function findOrCreateContactByWaId(
  tx: Queryable,
  projectId: string,
  waId: string,
  profileName?: string | null,
): Promise<ContactRow & { inserted: boolean }> {
  const [row] = await findOrCreateContactsByWaId(tx, [{ projectId, waId, profileName }]);
  return row!;
}

/**
 * `findOrCreateContactByWaId` for several contacts, answered in the order asked. Known contacts
 * whose name is unchanged (nearly all of them, on a busy number) are only read, so two
 * transactions sending to or hearing from one person do not wait for each other; the rest (new
 * people, new names, a person another transaction created meanwhile) are upserted in (project,
 * wa_id) order, so two batches never wait on each other in a cycle.
 */
export async function findOrCreateContactsByWaId(
  tx: Queryable,
  wanted: { projectId: string; waId: string; profileName?: string | null }[],
): Promise<(ContactRow & { inserted: boolean })[]> {
  const key = (projectId: string, waId: string | null) => `${projectId}:${waId}`;
  const distinct = new Map<string, ContactWanted>();
  for (const w of wanted) {
    const previous = distinct.get(key(w.projectId, w.waId));
    distinct.set(key(w.projectId, w.waId), {
      project_id: w.projectId,
      wa_id: w.waId,
      profile_name: w.profileName ?? previous?.profile_name ?? null,
    });
  }
  const rows = await tx.query<ContactRow & { inserted: boolean }>(sql`
    WITH wanted AS (
      SELECT * FROM ${recordset([...distinct.values()], sql`project_id uuid, wa_id text, profile_name text`)} AS w),
    inserted AS (
      INSERT INTO contacts (project_id, wa_id, profile_name)
      SELECT project_id, wa_id, profile_name FROM wanted w
      WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.project_id = w.project_id AND c.wa_id = w.wa_id)
      ORDER BY project_id, wa_id
      ON CONFLICT (project_id, wa_id) WHERE wa_id IS NOT NULL DO NOTHING
      RETURNING *, true AS inserted)
    SELECT * FROM inserted
    UNION ALL
    SELECT c.*, false FROM contacts c JOIN wanted w ON c.project_id = w.project_id AND c.wa_id = w.wa_id`);
  const found = new Map(rows.map((r) => [key(r.project_id, r.wa_id), r]));
  const upsert = [...distinct].flatMap(([k, w]) => {
    const row = found.get(k);
    return !row || (w.profile_name !== null && w.profile_name !== row.profile_name) ? [w] : [];
  });
  for (const row of await upsertContacts(tx, upsert)) found.set(key(row.project_id, row.wa_id), row);
  return wanted.map((w) => found.get(key(w.projectId, w.waId))!);
}

interface ContactWanted {
  project_id: string;
  wa_id: string;
  profile_name: string | null;
}

/** Creates or renames contacts by WhatsApp id, locking each row for the transaction. */
async function upsertContacts(
  tx: Queryable,
  wanted: ContactWanted[],
): Promise<(ContactRow & { inserted: boolean })[]> {
  if (wanted.length === 0) return [];
  return tx.query<ContactRow & { inserted: boolean }>(sql`
    INSERT INTO contacts (project_id, wa_id, profile_name)
    SELECT project_id, wa_id, profile_name
    FROM ${recordset(wanted, sql`project_id uuid, wa_id text, profile_name text`)} AS w
    ORDER BY project_id, wa_id
    ON CONFLICT (project_id, wa_id) WHERE wa_id IS NOT NULL DO UPDATE
      SET profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
          updated_at = CASE WHEN EXCLUDED.profile_name IS DISTINCT FROM contacts.profile_name
                            AND EXCLUDED.profile_name IS NOT NULL
                       THEN clock_timestamp() ELSE contacts.updated_at END
    RETURNING *, (xmax = 0) AS inserted`);
}

/** The contact holding business-scoped user id `bsuid` in the project, locked for the transaction. */
export async function lockContactByBsuid(
  tx: Queryable,
  projectId: string,
  bsuid: string,
): Promise<ContactRow | undefined> {
  const [row] = await tx.query<ContactRow>(sql`
    SELECT * FROM contacts WHERE project_id = ${projectId} AND business_scoped_user_id = ${bsuid} FOR UPDATE`);
  return row;
}

/** The contact with WhatsApp id `waId` in the project, locked for the transaction. */
export async function lockContactByWaId(
  tx: Queryable,
  projectId: string,
  waId: string,
): Promise<ContactRow | undefined> {
  const [row] = await tx.query<ContactRow>(sql`
    SELECT * FROM contacts WHERE project_id = ${projectId} AND wa_id = ${waId} FOR UPDATE`);
  return row;
}

/** The newest contact with parent BSUID `parentBsuid` in the project, locked for the transaction. */
export async function lockContactByParentBsuid(
  tx: Queryable,
  projectId: string,
  parentBsuid: string,
): Promise<ContactRow | undefined> {
  const [row] = await tx.query<ContactRow>(sql`
    SELECT * FROM contacts WHERE project_id = ${projectId} AND parent_business_scoped_user_id = ${parentBsuid}
    ORDER BY created_at DESC LIMIT 1 FOR UPDATE`);
  return row;
}

/**
 * The contact with BSUID `bsuid`, created when new (`inserted`): a person Meta identifies
 * without a phone number (a username user). Concurrent webhooks for a new person make one row.
 */
export async function findOrCreateContactByBsuid(
  tx: Queryable,
  projectId: string,
  bsuid: string,
): Promise<ContactRow & { inserted: boolean }> {
  const [row] = await tx.query<ContactRow & { inserted: boolean }>(sql`
    INSERT INTO contacts (project_id, business_scoped_user_id) VALUES (${projectId}, ${bsuid})
    ON CONFLICT (project_id, business_scoped_user_id) WHERE business_scoped_user_id IS NOT NULL
      DO UPDATE SET business_scoped_user_id = EXCLUDED.business_scoped_user_id
    RETURNING *, (xmax = 0) AS inserted`);
  return row!;
}

/** What an inbound webhook says about who a contact is; absent fields are left as stored. */
export interface ContactIdentity {
  waId?: string;
  bsuid?: string;
  parentBsuid?: string;
  username?: string;
  profileName?: string;
}

/**
 * Stores the identity Meta sent for a contact. A phone number is only filled in when the
 * contact has none — or replaces the stored one when `replaceWaId` (the user changed their
 * number) — and no other contact of the project holds it (so a recycled number never breaks a
 * webhook). `updated_at` moves only when something changed.
 */
export async function updateContactIdentity(
  tx: Queryable,
  contact: ContactRow,
  identity: ContactIdentity,
  replaceWaId = false,
): Promise<ContactRow> {
  const next = {
    business_scoped_user_id: identity.bsuid ?? contact.business_scoped_user_id,
    parent_business_scoped_user_id: identity.parentBsuid ?? contact.parent_business_scoped_user_id,
    username: identity.username ?? contact.username,
    profile_name: identity.profileName ?? contact.profile_name,
  };
  const setWaId =
    identity.waId !== undefined && identity.waId !== contact.wa_id && (contact.wa_id === null || replaceWaId);
  const same = Object.entries(next).every(([k, v]) => contact[k as keyof typeof next] === v);
  if (same && !setWaId) return contact;
  // Absent fields keep the row's current value, not `contact`'s: the caller may have read it
  // without a lock, and another transaction may have written it since.
  const [row] = await tx.query<ContactRow>(sql`
    UPDATE contacts c SET
      business_scoped_user_id = COALESCE(${identity.bsuid ?? null}, c.business_scoped_user_id),
      parent_business_scoped_user_id = COALESCE(${identity.parentBsuid ?? null}, c.parent_business_scoped_user_id),
      username = COALESCE(${identity.username ?? null}, c.username),
      profile_name = COALESCE(${identity.profileName ?? null}, c.profile_name),
      wa_id = CASE WHEN (c.wa_id IS NULL OR ${replaceWaId}) AND NOT EXISTS (
          SELECT 1 FROM contacts o WHERE o.project_id = c.project_id AND o.wa_id = ${identity.waId ?? null})
        THEN ${identity.waId ?? null} ELSE c.wa_id END,
      updated_at = clock_timestamp()
    WHERE c.id = ${contact.id}
    RETURNING *`);
  return row!;
}

/** By uuid, WhatsApp number (digits, `+` optional), BSUID or parent BSUID (newest match). */
export async function findContact(
  db: Queryable,
  projectId: string,
  identifier: string,
): Promise<ContactRow | undefined> {
  const digits = identifier.replace(/^\+/, "");
  const match: Sql = isUuid(identifier)
    ? sql`id = ${identifier}`
    : /^\d+$/.test(digits)
      ? sql`wa_id = ${digits}`
      : sql`(business_scoped_user_id = ${identifier} OR parent_business_scoped_user_id = ${identifier})`;
  const [row] = await db.query<ContactRow>(sql`
    SELECT * FROM contacts WHERE project_id = ${projectId} AND erased_at IS NULL AND ${match}
    ORDER BY created_at DESC LIMIT 1`);
  return row;
}

export interface ContactFilters {
  customerId?: string;
  customerExternalId?: string;
  hasCustomer?: boolean;
  profileNameContains?: string;
  waIdContains?: string;
  businessScopedUserId?: string;
  createdAfter?: string;
  createdBefore?: string;
}

const likeText = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function conditions(projectId: string, f: ContactFilters): Sql[] {
  const c = [sql`c.project_id = ${projectId}`, sql`c.erased_at IS NULL`];
  if (f.customerId) c.push(sql`c.customer_id::text = ${f.customerId}`);
  if (f.customerExternalId) {
    c.push(
      sql`c.customer_id IN (SELECT id FROM customers WHERE project_id = ${projectId} AND external_customer_id = ${f.customerExternalId})`,
    );
  }
  if (f.hasCustomer !== undefined)
    c.push(f.hasCustomer ? sql`c.customer_id IS NOT NULL` : sql`c.customer_id IS NULL`);
  if (f.profileNameContains) c.push(sql`c.profile_name ILIKE ${likeText(f.profileNameContains)}`);
  if (f.waIdContains) c.push(sql`c.wa_id LIKE ${likeText(f.waIdContains.replace(/^\+/, ""))}`);
  if (f.businessScopedUserId) c.push(sql`c.business_scoped_user_id = ${f.businessScopedUserId}`);
  if (f.createdAfter) c.push(sql`c.created_at > ${f.createdAfter}`);
  if (f.createdBefore) c.push(sql`c.created_at < ${f.createdBefore}`);
  return c;
}

export async function listContactsByOffset(
  db: Queryable,
  projectId: string,
  f: ContactFilters,
  page: OffsetParams,
) {
  const where = whereAll(conditions(projectId, f));
  const rows = await db.query<ContactRow>(
    sql`SELECT c.* FROM contacts c WHERE ${where} ORDER BY c.created_at DESC, c.id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM contacts c WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

export async function listContactsByCursor(
  db: Queryable,
  projectId: string,
  f: ContactFilters,
  params: CursorParams,
) {
  const q = cursorQuery(params, { sql: sql`c.created_at`, name: "created_at", idSql: sql`c.id` });
  const rows = await db.query<ContactRow>(
    sql`SELECT c.* FROM contacts c WHERE ${whereAll([...conditions(projectId, f), q.where])} ${q.orderBy} ${q.limit}`,
  );
  return { rows, direction: q.direction };
}

export async function insertContact(
  db: Queryable,
  projectId: string,
  input: {
    waId: string;
    profileName: string | null;
    displayName: string | null;
    customerId: string | null;
    metadata: Record<string, unknown>;
  },
): Promise<ContactRow | undefined> {
  const [row] = await db.query<ContactRow>(sql`
    INSERT INTO contacts (project_id, wa_id, profile_name, display_name, customer_id, metadata)
    VALUES (${projectId}, ${input.waId}, ${input.profileName}, ${input.displayName}, ${input.customerId}, ${json(input.metadata)})
    ON CONFLICT (project_id, wa_id) WHERE wa_id IS NOT NULL DO NOTHING
    RETURNING *`);
  return row;
}

const MUTABLE = ["wa_id", "profile_name", "display_name", "customer_id", "metadata"] as const;

export async function updateContact(
  db: Queryable,
  projectId: string,
  id: string,
  changes: Partial<Record<(typeof MUTABLE)[number], unknown>>,
): Promise<ContactRow | undefined> {
  const bound = { ...changes, metadata: changes.metadata === undefined ? undefined : json(changes.metadata) };
  const [row] = await db.query<ContactRow>(sql`
    UPDATE contacts SET ${updateSet(bound, MUTABLE)}
    WHERE project_id = ${projectId} AND id = ${id} AND erased_at IS NULL
    RETURNING *`);
  return row;
}
