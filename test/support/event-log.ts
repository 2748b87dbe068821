import sql from "sql-template-tag";
import { PROJECT_EVENTS, WEBHOOK_EVENTS } from "../../src/modules/webhooks/schemas.ts";
import { createWebhook } from "../../src/modules/webhooks/service.ts";
import type { TestApp } from "./app.ts";

/** One event as a webhook got it: its type, number and v2 payload (free-form JSON). */
export interface LoggedEvent {
  type: string;
  phone_number_ref: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field
  payload: any;
}

/**
 * Makes a project's events observable the way its customers see them: a `kapso` webhook
 * subscribed to every event — the project's number lifecycle events, or, given a number, that
 * number's message, conversation and contact events — whose delivery rows (the outbox) the
 * test reads back, in the order the events were published. The webhook points at a loopback
 * address no allow-list admits, so nothing is sent.
 */
export async function watchEvents(
  t: TestApp,
  projectId: string,
  phoneNumberId: string | null = null,
): Promise<(type?: string) => Promise<LoggedEvent[]>> {
  const events =
    phoneNumberId === null ? PROJECT_EVENTS : WEBHOOK_EVENTS.filter((e) => !PROJECT_EVENTS.includes(e));
  const webhook = await createWebhook(
    t.ctx,
    { projectId, phoneNumberId },
    { url: "http://127.0.0.1:9/events", events: [...events], secret_key: "test-event-log" },
  );
  return (type) =>
    t.ctx.db.query<LoggedEvent>(sql`
      SELECT event AS type, phone_number_ref, payload FROM webhook_deliveries
      WHERE webhook_id = ${webhook.id} ${type ? sql`AND event = ${type}` : sql``}
      ORDER BY seq`);
}
