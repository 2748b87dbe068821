import sql, { bulk } from "sql-template-tag";
import type { Queryable } from "../db/database.ts";
import { json } from "../db/sql.ts";

/** The NOTIFY channel on which every committed event is announced (the live inbox listens). */
export const EVENTS_CHANNEL = "parley_events";

/**
 * Something others must hear about, e.g. `whatsapp.message.received` with its v2 webhook
 * payload. Phone-number-scoped events carry the number; conversation events the conversation.
 */
export interface ParleyEvent {
  type: string;
  projectId: string;
  phoneNumberRef?: string | null;
  conversationId?: string | null;
  payload: unknown;
}

/** The small announcement sent with NOTIFY (its payload is limited to 8 kB). */
export interface EventNotice {
  id: string;
  project_id: string;
  type: string;
  phone_number_ref: string | null;
  conversation_id: string | null;
}

/**
 * Records events in the outbox inside the caller's transaction and announces them with
 * NOTIFY, which PostgreSQL delivers only if that transaction commits. Nothing is announced
 * for a change that rolls back, and nothing committed goes unrecorded.
 */
export async function publishEvents(tx: Queryable, events: ParleyEvent[]): Promise<EventNotice[]> {
  if (events.length === 0) return [];
  const notices = await tx.query<EventNotice>(sql`
    INSERT INTO events (project_id, type, phone_number_ref, conversation_id, payload)
    VALUES ${bulk(
      events.map((e) => [
        e.projectId,
        e.type,
        e.phoneNumberRef ?? null,
        e.conversationId ?? null,
        json(e.payload),
      ]),
    )}
    RETURNING id, project_id, type, phone_number_ref, conversation_id`);
  // One delivery per matching active webhook, in this same transaction. Message and
  // conversation events go to the number's webhooks; project events (number lifecycle) to
  // project-scoped ones.
  await tx.query(sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, event, payload, phone_number_ref, conversation_id)
    SELECT e.project_id, w.id, e.type, e.payload, e.phone_number_ref, e.conversation_id
    FROM events e JOIN webhooks w ON w.project_id = e.project_id AND w.active AND w.kind = 'kapso'
      AND e.type = ANY(w.events)
      AND (CASE WHEN e.type LIKE 'whatsapp.phone_number.%' THEN w.phone_number_ref IS NULL
                ELSE w.phone_number_ref = e.phone_number_ref END)
    WHERE e.id = ANY(${notices.map((n) => n.id)}::uuid[])
    ORDER BY e.created_at`);
  for (const notice of notices) {
    await tx.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(notice)})`);
  }
  return notices;
}
