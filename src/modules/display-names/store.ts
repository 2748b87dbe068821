import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { updateSet } from "../../db/sql.ts";
import { limitOffset, type OffsetParams } from "../../http/pagination.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";
import type { DisplayNameStatus } from "./schemas.ts";

export interface DisplayNameRequestRow {
  id: string;
  project_id: string;
  phone_number_ref: string;
  phone_number_id: string;
  requested_display_name: string;
  previous_display_name: string | null;
  status: DisplayNameStatus;
  submitted_at: string;
  reviewed_at: string | null;
  applied_at: string | null;
  meta_error_code: number | null;
  meta_error_subcode: number | null;
  meta_error_type: string | null;
  meta_error_message: string | null;
  next_check_at: string | null;
  updated_at: string;
}

/** Statuses in which Meta has not decided yet: the number's one open request, polled. */
export const OPEN_STATUSES: readonly DisplayNameStatus[] = ["submitted", "pending_review", "deferred"];

export async function listDisplayNameRequests(
  db: Queryable,
  projectId: string,
  phoneNumberRef: string,
  page: OffsetParams,
): Promise<{ rows: DisplayNameRequestRow[]; total: number }> {
  const where = sql`project_id = ${projectId} AND phone_number_ref = ${phoneNumberRef}`;
  const rows = await db.query<DisplayNameRequestRow>(sql`
    SELECT * FROM display_name_requests WHERE ${where}
    ORDER BY submitted_at DESC, id DESC ${limitOffset(page)}`);
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM display_name_requests WHERE ${where}`,
  );
  return { rows, total: count!.total };
}

export async function findDisplayNameRequest(
  db: Queryable,
  projectId: string,
  phoneNumberRef: string,
  id: string,
): Promise<DisplayNameRequestRow | undefined> {
  const [row] = await db.query<DisplayNameRequestRow>(sql`
    SELECT * FROM display_name_requests
    WHERE project_id = ${projectId} AND phone_number_ref = ${phoneNumberRef} AND id = ${id}`);
  return row;
}

export async function findOpenRequest(
  db: Queryable,
  projectId: string,
  phoneNumberRef: string,
): Promise<DisplayNameRequestRow | undefined> {
  const [row] = await db.query<DisplayNameRequestRow>(sql`
    SELECT * FROM display_name_requests
    WHERE project_id = ${projectId} AND phone_number_ref = ${phoneNumberRef}
      AND status = ANY(${OPEN_STATUSES as DisplayNameStatus[]})`);
  return row;
}

/**
 * Records a request as `submitted` before Meta is called. The unique index on open requests
 * makes a concurrent second submission for the number fail here (SQLSTATE 23505).
 */
export async function insertDisplayNameRequest(
  db: Queryable,
  r: {
    projectId: string;
    phoneNumberRef: string;
    phoneNumberId: string;
    requestedDisplayName: string;
    previousDisplayName: string | null;
  },
): Promise<DisplayNameRequestRow> {
  const [row] = await db.query<DisplayNameRequestRow>(sql`
    INSERT INTO display_name_requests
      (project_id, phone_number_ref, phone_number_id, requested_display_name, previous_display_name, status)
    VALUES (${r.projectId}, ${r.phoneNumberRef}, ${r.phoneNumberId}, ${r.requestedDisplayName},
            ${r.previousDisplayName}, 'submitted')
    RETURNING *`);
  return row!;
}

const MUTABLE = [
  "status",
  "reviewed_at",
  "applied_at",
  "meta_error_code",
  "meta_error_subcode",
  "meta_error_type",
  "meta_error_message",
  "next_check_at",
] as const;

export type DisplayNameRequestChanges = Partial<Pick<DisplayNameRequestRow, (typeof MUTABLE)[number]>>;

/**
 * Updates a request that is still open (a decision is recorded once: a late or repeated poll
 * cannot overwrite it). `nextCheckInSeconds` sets `next_check_at` by the database's clock, the
 * clock pg-boss schedules by. Returns the row, or undefined when it was no longer open.
 */
export async function updateOpenRequest(
  db: Queryable,
  id: string,
  changes: DisplayNameRequestChanges,
  nextCheckInSeconds?: number,
): Promise<DisplayNameRequestRow | undefined> {
  const next =
    nextCheckInSeconds === undefined
      ? sql``
      : sql`, next_check_at = clock_timestamp() + make_interval(secs => ${nextCheckInSeconds})`;
  const [row] = await db.query<DisplayNameRequestRow>(sql`
    UPDATE display_name_requests SET ${updateSet(changes, MUTABLE)} ${next}
    WHERE id = ${id} AND status = ANY(${OPEN_STATUSES as DisplayNameStatus[]})
    RETURNING *`);
  return row;
}

export interface PollTarget extends DisplayNameRequestRow {
  /** Whether `next_check_at` has come (a poll job that finds it still ahead is a stale duplicate). */
  due: boolean;
  number_kind: PhoneNumberRow["kind"];
  number_access_token_encrypted: string | null;
  /** Meta's id of the number now (it may have been changed since the request). */
  number_phone_number_id: string;
  number_deleted_at: string | null;
}

/** An open request with what the poller needs of its number (live or deleted), any project. */
export async function findOpenRequestForPoll(db: Queryable, id: string): Promise<PollTarget | undefined> {
  const [row] = await db.query<PollTarget>(sql`
    SELECT r.*, (r.next_check_at IS NULL OR r.next_check_at <= clock_timestamp() + interval '1 second') AS due,
           n.kind AS number_kind, n.access_token_encrypted AS number_access_token_encrypted,
           n.phone_number_id AS number_phone_number_id, n.deleted_at AS number_deleted_at
    FROM display_name_requests r JOIN phone_numbers n ON n.id = r.phone_number_ref
    WHERE r.id = ${id} AND r.status = ANY(${OPEN_STATUSES as DisplayNameStatus[]})`);
  return row;
}

/** Open requests whose poll is overdue by more than `graceSeconds` (their poll job was lost). */
export async function listOverdueRequestIds(db: Queryable, graceSeconds: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(sql`
    SELECT id FROM display_name_requests
    WHERE status = ANY(${OPEN_STATUSES as DisplayNameStatus[]})
      AND next_check_at < clock_timestamp() - make_interval(secs => ${graceSeconds})
    ORDER BY next_check_at LIMIT 500`);
  return rows.map((r) => r.id);
}

/** Writes an approved name onto the number (its `display_name`). */
export async function applyDisplayName(db: Queryable, phoneNumberRef: string, name: string): Promise<void> {
  await db.query(sql`
    UPDATE phone_numbers SET display_name = ${name}, updated_at = clock_timestamp()
    WHERE id = ${phoneNumberRef} AND deleted_at IS NULL`);
}

/** Ends the open requests of numbers being deleted (in the deletion's transaction). */
export async function cancelOpenRequests(db: Queryable, phoneNumberRefs: string[]): Promise<void> {
  if (!phoneNumberRefs.length) return;
  await db.query(sql`
    UPDATE display_name_requests SET status = 'cancelled', next_check_at = NULL, updated_at = clock_timestamp()
    WHERE phone_number_ref = ANY(${phoneNumberRefs}::uuid[])
      AND status = ANY(${OPEN_STATUSES as DisplayNameStatus[]})`);
}
