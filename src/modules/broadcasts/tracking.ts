import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";
import { json } from "../../db/sql.ts";
import type { MessageRow } from "../messages/store.ts";

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

/**
 * Records a status change of a broadcast message on its recipient: `delivered_at`, `read_at`,
 * or the asynchronous failure (only of a recipient not already settled otherwise).
 */
export async function recordBroadcastStatus(
  tx: Queryable,
  message: MessageRow,
  status: Record<string, unknown> & { status: string },
): Promise<void> {
  const recipientId = recipientOfMessage(message);
  if (!recipientId) return;
  const at = toIso(status.timestamp);
  if (status.status !== "failed") {
    // One statement: a send given up as `send_outcome_unknown` that Meta did get after all
    // turns sent, and a delivered or read status is dated on the recipient.
    const recovers = sql`(status = 'failed' AND error_details->>'code' = 'send_outcome_unknown')`;
    const delivered = status.status === "delivered" || status.status === "read";
    await tx.query(sql`
      UPDATE broadcast_recipients SET
        status = CASE WHEN ${recovers} THEN 'sent' ELSE status END,
        sent_at = CASE WHEN ${recovers} THEN coalesce(sent_at, ${at}::timestamptz) ELSE sent_at END,
        message_id = CASE WHEN ${recovers} THEN ${message.id}::uuid ELSE message_id END,
        wamid = CASE WHEN ${recovers} THEN ${message.wamid} ELSE wamid END,
        failed_at = CASE WHEN ${recovers} THEN NULL ELSE failed_at END,
        error_message = CASE WHEN ${recovers} THEN NULL ELSE error_message END,
        error_details = CASE WHEN ${recovers} THEN NULL ELSE error_details END,
        delivered_at = ${delivered ? sql`coalesce(delivered_at, ${at}::timestamptz)` : sql`delivered_at`},
        read_at = ${status.status === "read" ? sql`coalesce(read_at, ${at}::timestamptz)` : sql`read_at`},
        updated_at = clock_timestamp()
      WHERE id = ${recipientId} AND (${delivered} OR ${recovers})`);
  } else {
    const error = (Array.isArray(status.errors) ? status.errors[0] : undefined) as
      | Record<string, unknown>
      | undefined;
    const details = statusErrorDetails(error);
    await tx.query(sql`
      UPDATE broadcast_recipients SET
        status = 'failed', failed_at = ${at}::timestamptz, message_id = ${message.id}, wamid = ${message.wamid},
        error_message = ${typeof error?.message === "string" ? error.message : "Message failed"},
        error_details = ${json(details)}, updated_at = clock_timestamp()
      WHERE id = ${recipientId} AND status IN ('sending', 'sent')`);
  }
}

/**
 * Counts an inbound message as a response to the latest broadcast message sent to its author
 * from this number within the attribution window (once per recipient).
 */
export async function recordBroadcastReply(
  tx: Queryable,
  phoneNumberRef: string,
  waId: string,
  receivedAt: string,
  windowHours: number,
): Promise<void> {
  await tx.query(sql`
    UPDATE broadcast_recipients SET responded_at = ${receivedAt}::timestamptz, updated_at = clock_timestamp()
    WHERE id = (
      SELECT r.id FROM broadcast_recipients r JOIN broadcasts b ON b.id = r.broadcast_id
      WHERE r.phone_number = ${waId} AND b.phone_number_ref = ${phoneNumberRef}
        AND r.sent_at IS NOT NULL AND r.responded_at IS NULL AND r.status = 'sent'
        AND r.sent_at <= ${receivedAt}::timestamptz
        AND r.sent_at > ${receivedAt}::timestamptz - make_interval(hours => ${windowHours})
      ORDER BY r.sent_at DESC LIMIT 1)`);
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
