import sql, { join, type Sql } from "sql-template-tag";

/**
 * What goes out for a Kapso-kind delivery. Deliveries store the v2 payload (the one source of
 * truth); a `v1` (legacy) webhook gets it converted at each attempt, so the dispatcher and the
 * delivery detail (`GET /webhook_deliveries/{id}`) show the same bytes.
 */

/** The v2 lifecycle events and their legacy (v1) names. */
const LEGACY_NAMES: Record<string, string> = {
  "whatsapp.phone_number.created": "whatsapp.config.created",
  "whatsapp.phone_number.deleted": "whatsapp.config.deleted",
};
const CURRENT_NAMES = Object.fromEntries(Object.entries(LEGACY_NAMES).map(([v2, v1]) => [v1, v2]));

/** The name a webhook of `version` knows `event` by. */
export const eventNameFor = (event: string, version: string): string =>
  version === "v1" ? (LEGACY_NAMES[event] ?? event) : event;

/** The v2 name of an event named either way (`whatsapp.config.created` → `whatsapp.phone_number.created`). */
export const currentEventName = (event: string): string => CURRENT_NAMES[event] ?? event;

/** SQL: the legacy name of the event in `column` (itself when it has none). */
export const legacyEventNameSql = (column: Sql): Sql =>
  sql`(CASE ${column} ${join(
    Object.entries(LEGACY_NAMES).map(([v2, v1]) => sql`WHEN ${v2} THEN ${v1}`),
    " ",
  )} ELSE ${column} END)`;

/** SQL: whether the webhook `w` gets v1 payloads. */
const isV1 = (w: Sql): Sql => sql`(${w}.kind = 'kapso' AND ${w}.payload_version = 'v1')`;

/** SQL: the event of delivery `d` as its webhook `w` knows it. */
export const deliveryEventSql = (d: Sql, w: Sql): Sql =>
  sql`(CASE WHEN ${isV1(w)} THEN ${legacyEventNameSql(sql`${d}.event`)} ELSE ${d}.event END)`;

/**
 * SQL: for a delivery `d` to a v1 webhook `w`, the `whatsapp_config` object of its number
 * (Kapso's legacy `WhatsappConfig` fields that Parley has; `id` is Parley's id of the number, the
 * `whatsapp_config_id` it shows everywhere), else null. Nothing in it changes with the number's
 * routine updates, so a retry sends the same bytes.
 */
export const whatsappConfigSql = (d: Sql, w: Sql): Sql => sql`(CASE WHEN ${isV1(w)} THEN (
  SELECT jsonb_build_object(
    'id', pn.id, 'name', pn.name, 'display_name', pn.display_name,
    'phone_number_id', pn.phone_number_id, 'business_account_id', pn.business_account_id,
    'display_phone_number', pn.display_phone_number,
    'display_phone_number_normalized', pn.display_phone_number_normalized,
    'customer_id', pn.customer_id, 'inbound_processing_enabled', pn.inbound_processing_enabled,
    'calls_enabled', pn.calls_enabled, 'created_at', pn.created_at)
  FROM phone_numbers pn WHERE pn.id = ${d}.phone_number_ref) END)`;

export interface WhatsappConfig {
  id: string;
  phone_number_id: string;
  [field: string]: unknown;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A v2 message as Kapso's v1 had it: flat, with `message_type`, `content` (the text
 * representation) and the `kapso` fields (`direction`, `status`, `origin`, …) at the message
 * level, the type's object as `message_type_data`, and the conversation's phone and contact
 * name. The number is in `whatsapp_config`, so a batch's `kapso.phone_number(_id)` is dropped.
 */
function v1Message(message: Json, conversation: Json | undefined): Json {
  const { id, timestamp, type, context, kapso, ...rest } = message;
  const { phone_number: _phone, phone_number_id: _id, ...fields } = isObject(kapso) ? kapso : ({} as Json);
  const summary = isObject(conversation?.kapso) ? conversation.kapso : {};
  return {
    id,
    timestamp,
    message_type: type,
    ...fields,
    content: fields.content ?? null,
    message_type_data: typeof type === "string" ? (rest[type] ?? null) : null,
    ...(context ? { context } : {}),
    conversation_phone_number: conversation?.phone_number ?? null,
    contact_name: summary.contact_name ?? null,
  };
}

/** One v2 event payload as v1: `phone_number_id` gives way to `whatsapp_config_id` and `whatsapp_config`. */
function v1Payload(payload: Json, config: WhatsappConfig | null): Json {
  const { phone_number_id: _id, message, conversation, event, ...rest } = payload;
  const configId = config?.id ?? null;
  const out: Json = { ...rest };
  if (typeof event === "string") out.event = eventNameFor(event, "v1");
  if (isObject(message)) out.message = v1Message(message, isObject(conversation) ? conversation : undefined);
  if (isObject(conversation)) {
    const { phone_number_id: _cid, ...conv } = conversation;
    out.conversation = { ...conv, whatsapp_config_id: configId };
  }
  out.whatsapp_config_id = configId;
  out.whatsapp_config = config;
  return out;
}

/** The v1 body of a stored v2 payload: a single event, or a batch whose items are converted one by one. */
function toV1(event: string, payload: unknown, config: WhatsappConfig | null): unknown {
  if (!isObject(payload)) return payload;
  if (payload.batch === true && Array.isArray(payload.data)) {
    return {
      ...payload,
      type: eventNameFor(event, "v1"),
      data: payload.data.map((item) => (isObject(item) ? v1Payload(item, config) : item)),
    };
  }
  return v1Payload(payload, config);
}

/** A delivery as the dispatcher and the delivery detail read it. */
export interface OutgoingDelivery {
  event: string;
  payload: unknown;
  /** The exact bytes to send (meta forwarding), else null. */
  body: string | null;
  kind: "kapso" | "meta";
  payload_version: string;
  /** The number's v1 `whatsapp_config` (read for v1 webhooks only). */
  whatsapp_config: WhatsappConfig | null;
}

/** The event name and body a delivery sends. */
export function outgoing(d: OutgoingDelivery): { event: string; body: string } {
  if (d.body !== null) return { event: d.event, body: d.body };
  if (d.kind === "kapso" && d.payload_version === "v1") {
    return {
      event: eventNameFor(d.event, "v1"),
      body: JSON.stringify(toV1(d.event, d.payload, d.whatsapp_config)),
    };
  }
  return { event: d.event, body: JSON.stringify(d.payload) };
}
