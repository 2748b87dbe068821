import sql, { join, raw, type Sql } from "sql-template-tag";

/**
 * `col = value, …, updated_at = clock_timestamp()` for the entries of `changes` whose key is in
 * `columns` and whose value is not undefined. Column names come only from `columns`, never
 * from the request, so they are safe to splice into the statement.
 */
export function updateSet<C extends string>(
  changes: Partial<Record<C, unknown>>,
  columns: readonly C[],
  options: { touch?: boolean } = {},
): Sql {
  const sets = columns
    .filter((column) => changes[column] !== undefined)
    .map((column) => sql`${raw(column)} = ${changes[column]}`);
  if (options.touch !== false) sets.push(sql`updated_at = clock_timestamp()`);
  return join(sets, ", ");
}

/**
 * The value to bind to a `jsonb` parameter. Both engines accept JSON text for jsonb, while a
 * JS array bound directly would become a PostgreSQL array; so jsonb values are always bound
 * as `json(value)` (and JS arrays only to array columns such as `text[]`).
 */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * `rows` (objects) as a table for a set-based statement, read with `columns` (a column
 * definition list): `FROM ${recordset(rows, sql`id uuid, n int`)} AS u`. The row count goes in
 * as a LIMIT because the planner otherwise takes `jsonb_to_recordset` for 100 rows (a plan made
 * for the values at hand, as a prepared statement's first ones are) and then joins a few rows
 * to a grown table by scanning it whole rather than through its index.
 */
export function recordset(rows: unknown[], columns: Sql): Sql {
  return sql`(SELECT * FROM jsonb_to_recordset(${json(rows)}::jsonb) AS r(${columns}) LIMIT ${rows.length})`;
}
