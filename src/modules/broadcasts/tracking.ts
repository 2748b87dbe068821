import sql, { type Sql } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { recordset } from "../../db/sql.ts";
import type { MessageRow } from "../messages/store.ts";
import type { RecipientRow } from "./store.ts";

// What Meta's webhooks tell about broadcast messages: their statuses (delivered, read, failed)
// and the recipients' replies. Called by the webhook ingest, in its transaction.

const ATTEMPT_KEY = /^broadcast:([0-9a-f-]{36}):(\d+)$/;

/** The idempotency key (and `biz_opaque_callback_data`) of a recipient's attempt `n`. */
export function attemptKey(recipientId: string, attempt: number): string {
  return `broadcast:${recipientId}:${attempt}`;
}

/** The recipient a broadcast message was sent to, from its idempotency key. */
export function recipientOfMessage(
  message: Pick<MessageRow, "origin" | "idempotency_key">,
): string | undefined {
  if (message.origin !== "broadcast" || !message.idempotency_key) return undefined;
  return ATTEMPT_KEY.exec(message.idempotency_key)?.[1];
}

/**
 * The statement that marks broadcast recipients sent: `rows` is a table of (recipient_id,
 * message_id, wamid). A recipient whose status already moved on (a status webhook came
 * first) keeps it. Run alone, and as a step of the statement recording Meta's answers.
 */
export function markRecipientsSent(rows: Sql): Sql {
  return sql`
    UPDATE broadcast_recipients r SET
      status = CASE WHEN r.status = 'sending' THEN 'sent' ELSE r.status END,
      sent_at = coalesce(r.sent_at, clock_timestamp()), message_id = coalesce(u.message_id, r.message_id),
      wamid = u.wamid, updated_at = clock_timestamp()
    FROM ${rows} AS u
    WHERE r.id = u.recipient_id`;
}

const toIso = (unixSeconds: unknown) => {
  const n = Number(unixSeconds);
  return new Date(Number.isFinite(n) && n > 0 ? n * 1000 : Date.now()).toISOString();
};

/** Meta's error object of a failed status, as a recipient's `error_details`. */
function statusErrorDetails(error: Record<string, unknown> | undefined): Record<string, unknown> {
  const details = (error?.error_data as { details?: unknown } | undefined)?.details;
  return {
    error_class: "WhatsappApiError",
    ...(error?.code !== undefined ? { code: error.code } : {}),
    ...(typeof error?.message === "string" ? { message: error.message } : {}),
    ...(typeof details === "string" ? { details } : {}),
  };
}

/** The fields of a recipient that statuses of its message change. */
type TrackedRecipient = Pick<
  RecipientRow,
  | "id"
  | "status"
  | "sent_at"
  | "message_id"
  | "wamid"
  | "failed_at"
  | "delivered_at"
  | "read_at"
  | "error_message"
  | "error_details"
>;

/**
 * What one status of its message does to a recipient: a send given up as
 * `send_outcome_unknown` that Meta did get after all turns sent; a delivered or read status is
 * dated on the recipient; a failure fails a recipient not settled otherwise. False when nothing
 * changed.
 */
function applyStatusToRecipient(
  r: TrackedRecipient,
  message: MessageRow,
  status: Record<string, unknown> & { status: string },
): boolean {
  const at = toIso(status.timestamp);
  if (status.status === "failed") {
    if (r.status !== "sending" && r.status !== "sent") return false;
    const error = (Array.isArray(status.errors) ? status.errors[0] : undefined) as
      | Record<string, unknown>
      | undefined;
    Object.assign(r, {
      status: "failed",
      failed_at: at,
      message_id: message.id,
      wamid: message.wamid,
      error_message: typeof error?.message === "string" ? error.message : "Message failed",
      error_details: statusErrorDetails(error),
    });
    return true;
  }
  const recovers = r.status === "failed" && r.error_details?.code === "send_outcome_unknown";
  const delivered = status.status === "delivered" || status.status === "read";
  if (!recovers && !delivered) return false;
  if (recovers) {
    Object.assign(r, {
      status: "sent",
      sent_at: r.sent_at ?? at,
      message_id: message.id,
      wamid: message.wamid,
      failed_at: null,
      error_message: null,
      error_details: null,
    });
  }
  if (delivered) r.delivered_at ??= at;
  if (status.status === "read") r.read_at ??= at;
  return true;
}

/**
 * Records the status changes of broadcast messages on their recipients, in the order they
 * came: the recipients are read (locked in id order) and written back with one statement
 * each, however many statuses a webhook carries.
 */
export async function recordBroadcastStatuses(
  tx: Queryable,
  changes: { message: MessageRow; status: Record<string, unknown> & { status: string } }[],
): Promise<void> {
  const tracked = changes.flatMap((change) => {
    const recipientId = recipientOfMessage(change.message);
    return recipientId ? [{ ...change, recipientId }] : [];
  });
  if (tracked.length === 0) return;
  // A `sent` status changes only a recipient given up as `send_outcome_unknown`: the others are
  // not locked for it, so the runner marking them sent meanwhile never waits for this
  // transaction (the sandbox, like Meta, can report `sent` before the runner records the send).
  const dated = new Set(tracked.filter((t) => t.status.status !== "sent").map((t) => t.recipientId));
  const sentOnly = [...new Set(tracked.map((t) => t.recipientId))].filter((id) => !dated.has(id));
  const recipients = new Map(
    (
      await tx.query<TrackedRecipient>(sql`
        SELECT id, status, sent_at, message_id, wamid, failed_at, delivered_at, read_at, error_message, error_details
        FROM broadcast_recipients
        WHERE id = ANY(${[...dated]}::uuid[])
          OR (id = ANY(${sentOnly}::uuid[]) AND status = 'failed' AND error_details->>'code' = 'send_outcome_unknown')
        ORDER BY id FOR UPDATE`)
    ).map((r) => [r.id, r]),
  );
  const changed = new Set<TrackedRecipient>();
  for (const { recipientId, message, status } of tracked) {
    const r = recipients.get(recipientId);
    if (r && applyStatusToRecipient(r, message, status)) changed.add(r);
  }
  if (changed.size === 0) return;
  await tx.query(sql`
    UPDATE broadcast_recipients r SET status = u.status, sent_at = u.sent_at, message_id = u.message_id,
      wamid = u.wamid, failed_at = u.failed_at, delivered_at = u.delivered_at, read_at = u.read_at,
      error_message = u.error_message, error_details = u.error_details, updated_at = clock_timestamp()
    FROM ${recordset(
      [...changed],
      sql`id uuid, status text, sent_at timestamptz, message_id uuid, wamid text, failed_at timestamptz,
        delivered_at timestamptz, read_at timestamptz, error_message text, error_details jsonb`,
    )} AS u
    WHERE r.id = u.id`);
}

/**
 * The statement that counts inbound messages as responses, each to the latest broadcast message
 * sent to its author from its number within the attribution window (once per recipient: a later
 * message from the same person changes nothing), for all of them at once. The ingest runs it as
 * a step of the statement that records the messages in their conversations' summaries.
 */
export function broadcastRepliesUpdate(
  replies: { phoneNumberRef: string; waId: string; receivedAt: string }[],
  windowHours: number,
): Sql {
  const input = replies.map((r) => ({
    phone_number_ref: r.phoneNumberRef,
    wa_id: r.waId,
    received_at: r.receivedAt,
  }));
  return sql`
    UPDATE broadcast_recipients r SET responded_at = t.received_at, updated_at = clock_timestamp()
    FROM (
      SELECT DISTINCT ON (latest.id) latest.id, x.received_at
      FROM ${recordset(input, sql`phone_number_ref uuid, wa_id text, received_at timestamptz`)} AS x
      CROSS JOIN LATERAL (
        SELECT r.id FROM broadcast_recipients r JOIN broadcasts b ON b.id = r.broadcast_id
        WHERE r.phone_number = x.wa_id AND b.phone_number_ref = x.phone_number_ref
          AND r.status = 'sent' AND r.sent_at <= x.received_at
          AND r.sent_at > x.received_at - make_interval(hours => ${windowHours})
        ORDER BY r.sent_at DESC LIMIT 1) latest
      ORDER BY latest.id, x.received_at) t
    WHERE r.id = t.id AND r.responded_at IS NULL`;
}

/**
 * A status for a wamid Parley does not know yet, whose `biz_opaque_callback_data` is the attempt
 * key of a stored broadcast message still waiting for Meta's answer (its process died, or the
 * answer has not arrived yet): that message is the one Meta sent, so it takes the wamid. True
 * when adopted.
 */
export async function adoptWamid(
  tx: Queryable,
  phoneNumberRef: string,
  wamid: string,
  callbackData: unknown,
): Promise<boolean> {
  if (typeof callbackData !== "string" || !ATTEMPT_KEY.test(callbackData)) return false;
  const rows = await tx.query(sql`
    UPDATE messages SET wamid = ${wamid}, updated_at = clock_timestamp()
    WHERE phone_number_ref = ${phoneNumberRef} AND idempotency_key = ${callbackData}
      AND direction = 'outbound' AND wamid IS NULL
    RETURNING id`);
  return rows.length > 0;
}
