import type { BroadcastRow, BroadcastWithCounts, RecipientRow } from "./store.ts";

/** `response_rate`: responses per sent message, in percent with one decimal. */
function responseRate(b: BroadcastWithCounts): number {
  const sent = b.sent_count;
  return sent === 0 ? 0 : Math.round((b.responded_count / sent) * 1000) / 10;
}

export function presentBroadcast(b: BroadcastWithCounts) {
  return {
    id: b.id,
    name: b.name,
    status: b.status,
    phone_number_id: b.phone_number_id,
    whatsapp_template: b.template,
    scheduled_at: b.scheduled_at,
    started_at: b.started_at,
    stopped_at: b.stopped_at,
    completed_at: b.completed_at,
    total_recipients: b.total_recipients,
    sent_count: b.sent_count,
    failed_count: b.failed_count,
    delivered_count: b.delivered_count,
    read_count: b.read_count,
    pending_count: b.pending_count,
    responded_count: b.responded_count,
    suppressed_count: b.suppressed_count,
    response_rate: responseRate(b),
    sandbox: b.sandbox,
    created_at: b.created_at,
    updated_at: b.updated_at,
  };
}

/** The `WhatsappBroadcastSendResponse` data of send, schedule and cancel. */
export function presentSendResponse(b: BroadcastRow) {
  return {
    id: b.id,
    status: b.status,
    scheduled_at: b.scheduled_at,
    started_at: b.started_at,
    stopped_at: b.stopped_at,
    completed_at: b.completed_at,
  };
}

export function presentRecipient(r: RecipientRow) {
  return {
    id: r.id,
    phone_number: r.phone_number,
    // A recipient being sent right now is still pending to the API.
    status: r.status === "sending" ? ("pending" as const) : r.status,
    sent_at: r.sent_at,
    failed_at: r.failed_at,
    delivered_at: r.delivered_at,
    read_at: r.read_at,
    responded_at: r.responded_at,
    error_message: r.error_message,
    error_details: r.error_details,
    template_components: r.components,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
