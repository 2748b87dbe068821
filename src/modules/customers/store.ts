import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { updateSet } from "../../db/sql.ts";
import { limitOffset, type OffsetParams, whereAll } from "../../http/pagination.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";

export interface CustomerRow {
  id: string;
  project_id: string;
  name: string;
  external_customer_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface CustomerFilters {
  nameContains?: string;
  externalCustomerId?: string;
  createdAfter?: string;
  createdBefore?: string;
}

function filterConditions(projectId: string, f: CustomerFilters): Sql[] {
  const conditions = [sql`project_id = ${projectId}`];
  // Case-insensitive substring; LIKE wildcards in the input are matched literally.
  if (f.nameContains) {
    const escaped = f.nameContains.replace(/[\\%_]/g, (c) => `\\${c}`);
    conditions.push(sql`name ILIKE ${`%${escaped}%`}`);
  }
  if (f.externalCustomerId) conditions.push(sql`external_customer_id = ${f.externalCustomerId}`);
  if (f.createdAfter) conditions.push(sql`created_at > ${f.createdAfter}`);
  if (f.createdBefore) conditions.push(sql`created_at < ${f.createdBefore}`);
  return conditions;
}

export async function listCustomers(
  db: Queryable,
  projectId: string,
  filters: CustomerFilters,
  page: OffsetParams,
): Promise<{ rows: CustomerRow[]; total: number }> {
  const where = whereAll(filterConditions(projectId, filters));
  const rows = await db.query<CustomerRow>(
    sql`SELECT * FROM customers WHERE ${where} ORDER BY created_at DESC, id DESC ${limitOffset(page)}`,
  );
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM customers WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

export async function findCustomer(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<CustomerRow | undefined> {
  const [row] = await db.query<CustomerRow>(
    sql`SELECT * FROM customers WHERE project_id = ${projectId} AND id = ${id}`,
  );
  return row;
}

export async function findCustomerByExternalId(
  db: Queryable,
  projectId: string,
  externalCustomerId: string,
): Promise<CustomerRow | undefined> {
  const [row] = await db.query<CustomerRow>(
    sql`SELECT * FROM customers WHERE project_id = ${projectId} AND external_customer_id = ${externalCustomerId}`,
  );
  return row;
}

/** Inserts unless the external id is taken in the project (then returns undefined). */
export async function insertCustomer(
  db: Queryable,
  projectId: string,
  input: { name: string; externalCustomerId: string | null },
): Promise<CustomerRow | undefined> {
  const [row] = await db.query<CustomerRow>(sql`
    INSERT INTO customers (project_id, name, external_customer_id)
    VALUES (${projectId}, ${input.name}, ${input.externalCustomerId})
    ON CONFLICT (project_id, external_customer_id) WHERE external_customer_id IS NOT NULL DO NOTHING
    RETURNING *`);
  return row;
}

const MUTABLE_COLUMNS = ["name", "external_customer_id"] as const;

export async function updateCustomer(
  db: Queryable,
  projectId: string,
  id: string,
  changes: Partial<Record<(typeof MUTABLE_COLUMNS)[number], string | null>>,
): Promise<CustomerRow | undefined> {
  const [row] = await db.query<CustomerRow>(sql`
    UPDATE customers SET ${updateSet(changes, MUTABLE_COLUMNS)}
    WHERE project_id = ${projectId} AND id = ${id}
    RETURNING *`);
  return row;
}

/**
 * Deletes a customer and what only made sense with it: its live numbers are soft-deleted (their
 * history stays, detached), inbox embeds scoped to it or to those numbers are revoked, and its
 * contacts are detached (foreign key `ON DELETE SET NULL`). Returns the numbers it deleted, or undefined when not found.
 */
export async function deleteCustomer(
  tx: Queryable,
  projectId: string,
  id: string,
): Promise<PhoneNumberRow[] | undefined> {
  const [locked] = await tx.query(
    sql`SELECT id FROM customers WHERE project_id = ${projectId} AND id = ${id} FOR UPDATE`,
  );
  if (!locked) return undefined;
  const numbers = await tx.query<PhoneNumberRow>(sql`
    UPDATE phone_numbers SET deleted_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND customer_id = ${id} AND deleted_at IS NULL
    RETURNING *`);
  const numberIds = numbers.map((n) => n.phone_number_id);
  await tx.query(sql`
    UPDATE inbox_embeds SET status = 'revoked', updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND status = 'active'
      AND ((scope_type = 'customer' AND scope_id = ${id})
        OR (scope_type = 'phone_number' AND scope_id = ANY(${numberIds})))`);
  await tx.query(sql`DELETE FROM customers WHERE project_id = ${projectId} AND id = ${id}`);
  return numbers;
}
