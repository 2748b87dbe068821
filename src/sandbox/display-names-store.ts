import sql from "sql-template-tag";
import type { Queryable } from "../db/database.ts";
import { json } from "../db/sql.ts";

// The sandbox's side of Meta's display-name review: how a number's next names are reviewed,
// and the last name submitted for it.

export type DisplayNameOutcome = "instant" | "review" | "decline";

/** Meta's error fields the sandbox answers a declined name with. */
export interface DeclineError {
  code: number;
  error_subcode?: number;
  type?: string;
  message?: string;
}

export interface OutcomeRow {
  phone_number_id: string;
  outcome: DisplayNameOutcome;
  review_ms: number;
  error: DeclineError | null;
  updated_at: string;
}

export async function saveOutcome(
  db: Queryable,
  o: { phoneNumberId: string; outcome: DisplayNameOutcome; reviewMs: number; error: DeclineError | null },
): Promise<OutcomeRow> {
  const [row] = await db.query<OutcomeRow>(sql`
    INSERT INTO sandbox_display_name_outcomes (phone_number_id, outcome, review_ms, error)
    VALUES (${o.phoneNumberId}, ${o.outcome}, ${o.reviewMs}, ${o.error === null ? null : json(o.error)})
    ON CONFLICT (phone_number_id) DO UPDATE
    SET outcome = EXCLUDED.outcome, review_ms = EXCLUDED.review_ms, error = EXCLUDED.error,
        updated_at = clock_timestamp()
    RETURNING *`);
  return row!;
}

export async function findOutcome(db: Queryable, phoneNumberId: string): Promise<OutcomeRow | undefined> {
  const [row] = await db.query<OutcomeRow>(
    sql`SELECT * FROM sandbox_display_name_outcomes WHERE phone_number_id = ${phoneNumberId}`,
  );
  return row;
}

export async function deleteOutcome(db: Queryable, phoneNumberId: string): Promise<void> {
  await db.query(sql`DELETE FROM sandbox_display_name_outcomes WHERE phone_number_id = ${phoneNumberId}`);
}

export interface SubmittedNameRow {
  new_display_name: string;
  decision: "APPROVED" | "AVAILABLE_WITHOUT_REVIEW";
  /** Whether the review is over (`decide_at` has passed), by the database's clock. */
  decided: boolean;
}

/** Records a submitted name; a later submission replaces it, as Meta keeps one new name. */
export async function saveSubmittedName(
  db: Queryable,
  s: { phoneNumberId: string; name: string; decision: SubmittedNameRow["decision"]; reviewMs: number },
): Promise<void> {
  await db.query(sql`
    INSERT INTO sandbox_display_names (phone_number_id, new_display_name, decision, decide_at)
    VALUES (${s.phoneNumberId}, ${s.name}, ${s.decision},
            clock_timestamp() + make_interval(secs => ${s.reviewMs / 1000}))
    ON CONFLICT (phone_number_id) DO UPDATE
    SET new_display_name = EXCLUDED.new_display_name, decision = EXCLUDED.decision,
        decide_at = EXCLUDED.decide_at, submitted_at = clock_timestamp()`);
}

export async function findSubmittedName(
  db: Queryable,
  phoneNumberId: string,
): Promise<SubmittedNameRow | undefined> {
  const [row] = await db.query<SubmittedNameRow>(sql`
    SELECT new_display_name, decision, clock_timestamp() >= decide_at AS decided
    FROM sandbox_display_names WHERE phone_number_id = ${phoneNumberId}`);
  return row;
}
