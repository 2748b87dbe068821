import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { type MetaPayload, type ParleyEvent, publishEvents } from "../events/publish.ts";
import {
  adoptWamid,
  broadcastRepliesUpdate,
  recordBroadcastStatuses,
} from "../modules/broadcasts/tracking.ts";
import { presentContact } from "../modules/contacts/presenter.ts";
import {
  type ContactIdentity,
  type ContactRow,
  findOrCreateContactByWaId,
  findOrCreateContactsByWaId,
} from "../modules/contacts/store.ts";
import { presentConversation } from "../modules/conversations/presenter.ts";
import {
  type ConversationRow,
  findConversations,
  findOrOpenConversations,
  recordMessagesInSummaries,
} from "../modules/conversations/store.ts";
import { messageMediaUrl } from "../modules/media/urls.ts";
import { presentMessage } from "../modules/messages/presenter.ts";
import {
  applyStatuses,
  insertMessages,
  keepPendingStatus,
  type MessageRow,
  type StatusObject,
  takePendingStatuses,
} from "../modules/messages/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { startInactivityTimers } from "../webhooks/inactivity.ts";
import {
  foundByNumberAlone,
  type IdentityChange,
  resolveInboundContact,
  settleInboundIdentity,
} from "./identity.ts";

/**
 * A person in Meta's `contacts[]`: the phone number (`wa_id`, withheld for some username
 * users), the business-scoped user id (`user_id`, BSUID) and its parent across linked
 * portfolios, and the profile.
 */
interface WebhookContact {
  wa_id?: string;
  user_id?: string;
  parent_user_id?: string;
  profile?: { name?: string; username?: string };
}

/** One `entry[].changes[].value` of a Meta webhook, as far as Parley reads it. */
export interface WebhookValue {
  metadata?: { phone_number_id?: string };
  contacts?: WebhookContact[];
  messages?: InboundMessage[];
  statuses?: (Record<string, unknown> & { id?: string; status?: string })[];
  user_preferences?: {
    wa_id?: string;
    detail?: string;
    category?: string;
    value?: string;
    timestamp?: string;
  }[];
}

interface InboundMessage {
  id?: string;
  from?: string;
  /** The sender's BSUID and parent BSUID (Meta sends them with or without `from`). */
  from_user_id?: string;
  from_parent_user_id?: string;
  timestamp?: string;
  type?: string;
  context?: Record<string, unknown>;
  [key: string]: unknown;
}

const toIso = (unixSeconds: string | undefined) => {
  const n = Number(unixSeconds);
  return new Date(Number.isFinite(n) && n > 0 ? n * 1000 : Date.now()).toISOString();
};

/** `obj.a.b` when it is a string. */
function textAt(obj: unknown, ...path: string[]): string | undefined {
  let value: unknown = obj;
  for (const key of path)
    value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  return typeof value === "string" ? value : undefined;
}

/** A short plain-text rendering of a message, for summaries and `kapso.content`. */
export function messageText(type: string, content: Record<string, unknown>): string | null {
  switch (type) {
    case "text":
      return textAt(content, "body") ?? null;
    case "image":
    case "video":
    case "document":
      return textAt(content, "caption") ?? textAt(content, "filename") ?? `[${type}]`;
    case "audio":
    case "sticker":
      return `[${type}]`;
    case "location":
      return (
        [textAt(content, "name"), textAt(content, "address")].filter(Boolean).join(", ") ||
        `[location ${content.latitude}, ${content.longitude}]`
      );
    case "contacts": {
      const list = Array.isArray(content.contacts) ? content.contacts : [];
      const names = list.map((c) => textAt(c, "name", "formatted_name")).filter(Boolean);
      return names.length ? names.join(", ") : "[contacts]";
    }
    case "interactive":
      return (
        textAt(content, "button_reply", "title") ??
        textAt(content, "list_reply", "title") ??
        (content.nfm_reply ? "[flow response]" : null)
      );
    case "button":
      return textAt(content, "text") ?? null;
    case "reaction":
      return textAt(content, "emoji") ?? null;
    default:
      return null;
  }
}

/** The Meta type object of a message (`contacts` is an array in Meta's JSON). */
function typeContent(message: InboundMessage, type: string): Record<string, unknown> {
  const value = message[type];
  if (Array.isArray(value)) return { [type]: value };
  return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
}

const conversationPayload = (conversation: ConversationRow) => ({
  conversation: presentConversation(conversation),
  phone_number_id: conversation.phone_number_id,
});

/** A string field of an untyped object, when it is a non-empty string. */
const stringAt = (obj: unknown, key: string) => {
  const value = obj && typeof obj === "object" ? (obj as Record<string, unknown>)[key] : undefined;
  return typeof value === "string" && value !== "" ? value : undefined;
};

/**
 * Who sent `message`: its own `from` / `from_user_id`, completed by the matching `contacts[]`
 * entry. Meta's system notices (they have no `contacts[]`) report a changed identity:
 * `user_changed_user_id` a new BSUID (`system.user_id`, `system.parent_user_id`),
 * `user_changed_number` a new number (`system.wa_id`; `from` is the old one) and the new BSUID
 * that comes with it. The new values are the identity; what they replace — the notice's
 * `previous_user_id` / `previous_parent_user_id`, the sender's `from_user_id`, the old BSUID in
 * a BSUID notice's body ("… changed from <old> to <new>"), the old number — finds the contact.
 */
function senderOf(
  message: InboundMessage,
  contacts: WebhookContact[],
): { identity: ContactIdentity; change?: IdentityChange } {
  const entry = contacts.find(
    (c) =>
      (message.from && c.wa_id === message.from) ||
      (message.from_user_id && c.user_id === message.from_user_id),
  );
  const identity: ContactIdentity = {
    waId: message.from ?? entry?.wa_id,
    bsuid: message.from_user_id ?? entry?.user_id,
    parentBsuid: message.from_parent_user_id ?? entry?.parent_user_id,
    username: entry?.profile?.username,
    profileName: entry?.profile?.name,
  };
  const system = message.type === "system" ? message.system : undefined;
  const kind = stringAt(system, "type");
  if (kind !== "user_changed_user_id" && kind !== "user_changed_number") return { identity };
  const bsuid = stringAt(system, "user_id") ?? identity.bsuid;
  const fromBody =
    kind === "user_changed_user_id"
      ? /changed from (\S+) to /.exec(stringAt(system, "body") ?? "")?.[1]
      : undefined;
  const newWaId = kind === "user_changed_number" ? stringAt(system, "wa_id") : undefined;
  return {
    identity: {
      ...identity,
      waId: newWaId ?? identity.waId,
      bsuid,
      parentBsuid: stringAt(system, "parent_user_id") ?? identity.parentBsuid,
    },
    change: {
      formerBsuids: [stringAt(system, "previous_user_id"), message.from_user_id, fromBody].filter(
        (id): id is string => id !== undefined && id !== bsuid,
      ),
      formerParentBsuid: stringAt(system, "previous_parent_user_id"),
      newWaId: newWaId !== undefined,
      formerWaId: newWaId !== undefined && message.from !== newWaId ? message.from : undefined,
    },
  };
}

/** An inbound message whose sender is resolved, on its way into the store. */
interface ResolvedMessage {
  number: PhoneNumberRow;
  message: InboundMessage & { id: string };
  contact: ContactRow;
  /** The sender's identity change events, published before the message's own. */
  events: ParleyEvent[];
}

/**
 * Resolves who sent each message of each value, in order (a message may create or change the
 * next one's contact). A run of senders found by number alone — the usual case — is looked up
 * with one statement; a sender with a BSUID or an identity change is resolved on its own,
 * after the run before it.
 */
async function resolveSenders(
  ctx: AppContext,
  tx: Queryable,
  values: { number: PhoneNumberRow; value: WebhookValue }[],
): Promise<ResolvedMessage[][]> {
  const resolved = values.map((): ResolvedMessage[] => []);
  let run: {
    at: number;
    number: PhoneNumberRow;
    message: ResolvedMessage["message"];
    identity: ContactIdentity;
  }[] = [];
  const resolveRun = async () => {
    if (run.length === 0) return;
    const found = await findOrCreateContactsByWaId(
      tx,
      run.map(({ number, identity }) => ({
        projectId: number.project_id,
        waId: identity.waId!,
        profileName: identity.profileName,
      })),
    );
    // A contact met twice in the run is settled the second time as the first left it (no
    // longer new, as a second lookup would have found it).
    const settled = new Map<string, ContactRow & { inserted: boolean }>();
    for (const [i, { at, number, message, identity }] of run.entries()) {
      const contact = settled.get(found[i]!.id) ?? found[i]!;
      const result = await settleInboundIdentity(tx, number, contact, identity);
      settled.set(contact.id, { ...result.contact, inserted: false });
      resolved[at]!.push({ number, message, contact: result.contact, events: result.events });
    }
    run = [];
  };
  for (const [at, { number, value }] of values.entries()) {
    if (!number.inbound_processing_enabled) {
      if (value.messages?.length)
        ctx.log.debug(
          { phone_number_id: number.phone_number_id },
          "inbound processing disabled: messages ignored",
        );
      continue;
    }
    const contacts = Array.isArray(value.contacts) ? value.contacts : [];
    for (const message of value.messages ?? []) {
      if (!message.id) continue;
      const sender = senderOf(message, contacts);
      const inbound = message as ResolvedMessage["message"];
      if (foundByNumberAlone(sender.identity, sender.change)) {
        run.push({ at, number, message: inbound, identity: sender.identity });
        continue;
      }
      await resolveRun();
      const found = await resolveInboundContact(tx, number, sender.identity, sender.change);
      if (!found) continue;
      if (found.numberTakenBy)
        ctx.log.warn(
          { contact_id: found.contact.id, holder_contact_id: found.numberTakenBy, wamid: message.id },
          "user_changed_number: another contact holds the new number; the contact keeps its old one",
        );
      resolved[at]!.push({ number, message: inbound, contact: found.contact, events: found.events });
    }
  }
  await resolveRun();
  return resolved;
}

/**
 * Stores inbound messages, each in its contact's active conversation (opened when there is
 * none), with one statement per step for all of them (conversations, messages, broadcast
 * replies, summaries). Answers each message's events in order: its sender's identity change,
 * `whatsapp.conversation.created` for the first message of a new conversation, and
 * `whatsapp.message.received` (a replayed wamid stores nothing and has no events of its own).
 * The events carry the conversation as these messages left it.
 */
async function storeInboundMessages(
  ctx: AppContext,
  tx: Queryable,
  resolved: ResolvedMessage[],
): Promise<ParleyEvent[][]> {
  if (resolved.length === 0) return [];
  const opened = await findOrOpenConversations(
    tx,
    resolved.map(({ number, contact }) => ({
      projectId: number.project_id,
      phoneNumberRef: number.id,
      contactId: contact.id,
    })),
  );
  const stored = resolved.map(({ message }) => {
    const type = message.type ?? "unsupported";
    const content = typeContent(message, type);
    return { type, content, sentAt: toIso(message.timestamp), text: messageText(type, content) };
  });
  const rows = await insertMessages(
    tx,
    resolved.map(({ number, contact, message }, i) => ({
      projectId: number.project_id,
      phoneNumberRef: number.id,
      conversationId: opened[i]!.conversationId,
      contactId: contact.id,
      wamid: message.id,
      direction: "inbound",
      type: stored[i]!.type,
      content: stored[i]!.content,
      text: stored[i]!.text,
      context: message.context ?? null,
      status: "received",
      processingStatus: "pending",
      sentAt: stored[i]!.sentAt,
    })),
  );
  const inserted = resolved.flatMap((r, i) => (rows[i] ? [{ ...r, ...stored[i]!, row: rows[i]! }] : []));
  const replies = inserted.flatMap(({ number, contact, sentAt }) =>
    contact.wa_id ? [{ phoneNumberRef: number.id, waId: contact.wa_id, receivedAt: sentAt }] : [],
  );
  const conversations = new Map(
    (
      await recordMessagesInSummaries(
        tx,
        inserted.map(({ row, message, type, text, sentAt }) => ({
          conversationId: row.conversation_id,
          message: { wamid: message.id, type, text, sentAt, direction: "inbound" },
        })),
        replies.length ? broadcastRepliesUpdate(replies, ctx.config.broadcastResponseWindowHours) : undefined,
      )
    ).map((c) => [c.id, c]),
  );
  const announcedNew = new Set<string>();
  return resolved.map(({ number, events }, i) => {
    const row = rows[i];
    if (!row) return events;
    const current = conversations.get(row.conversation_id)!;
    const base = { projectId: number.project_id, phoneNumberRef: number.id, conversationId: current.id };
    const created = opened[i]!.created && !announcedNew.has(current.id);
    if (created) announcedNew.add(current.id);
    return [
      ...events,
      ...(created
        ? [{ ...base, type: "whatsapp.conversation.created", payload: conversationPayload(current) }]
        : []),
      {
        ...base,
        type: "whatsapp.message.received",
        messageId: row.id,
        payload: {
          message: presentMessage(row, messageMediaUrl(ctx)),
          conversation: presentConversation(current),
          is_new_conversation: created,
          phone_number_id: number.phone_number_id,
        },
      },
    ];
  });
}

/**
 * The broadcast bookkeeping and v2 events of the statuses that changed their message's status
 * (`applied` in the order the statuses came), each event with its conversation.
 */
async function statusChanges(
  ctx: AppContext,
  tx: Queryable,
  number: PhoneNumberRow,
  applied: { status: StatusObject; result: { message: MessageRow; changed: boolean } | undefined }[],
): Promise<ParleyEvent[]> {
  const changed = applied.flatMap(({ status, result }) =>
    result?.changed ? [{ status, message: result.message }] : [],
  );
  await recordBroadcastStatuses(tx, changed);
  const ids = [...new Set(changed.map(({ message }) => message.conversation_id))];
  const conversations = new Map(
    (await findConversations(tx, number.project_id, ids)).map((conversation) => [
      conversation.id,
      conversation,
    ]),
  );
  return changed.map(({ message }) => {
    const conversation = conversations.get(message.conversation_id)!;
    return {
      type: `whatsapp.message.${message.status}`,
      projectId: number.project_id,
      phoneNumberRef: number.id,
      conversationId: conversation.id,
      messageId: message.id,
      payload: {
        message: presentMessage(message, messageMediaUrl(ctx)),
        conversation: presentConversation(conversation),
        is_new_conversation: false,
        phone_number_id: number.phone_number_id,
      },
    };
  });
}

/**
 * Applies a webhook's statuses. A status for a wamid Parley does not hold yet either names a
 * broadcast send still waiting for Meta's answer (which then takes the wamid) or is kept until
 * the send records its wamid (`applyPendingStatuses`).
 */
async function ingestStatuses(
  ctx: AppContext,
  tx: Queryable,
  number: PhoneNumberRow,
  received: NonNullable<WebhookValue["statuses"]>,
): Promise<ParleyEvent[]> {
  const statuses = received.filter(
    (s): s is StatusObject => typeof s?.id === "string" && s.id !== "" && typeof s.status === "string",
  );
  const results = await applyStatuses(tx, number.id, statuses);
  const applied = statuses.map((status, i) => ({ status, result: results[i] }));
  const unknown = applied.filter(({ result }) => !result).map(({ status }) => status);
  const adopted = new Map<string, boolean>();
  for (const { id, biz_opaque_callback_data } of unknown) {
    if (!adopted.has(id)) adopted.set(id, await adoptWamid(tx, number.id, id, biz_opaque_callback_data));
  }
  const adoptable = unknown.filter(({ id }) => adopted.get(id));
  const retried = await applyStatuses(tx, number.id, adoptable);
  for (const status of unknown.filter(({ id }) => !adopted.get(id)))
    await keepPendingStatus(tx, number.id, status.id, status);
  return statusChanges(ctx, tx, number, [
    ...applied,
    ...adoptable.map((status, i) => ({ status, result: retried[i] })),
  ]);
}

/**
 * Applies the statuses that arrived before the send recorded `wamid` (Meta can answer the
 * status webhook before our own commit). The send path calls this once it stores the wamid.
 */
export async function applyPendingStatuses(
  ctx: AppContext,
  tx: Queryable,
  number: PhoneNumberRow,
  wamid: string,
): Promise<void> {
  const statuses = (await takePendingStatuses(tx, number.id, wamid)).map((s) => ({ ...s, id: wamid }));
  const results = await applyStatuses(tx, number.id, statuses);
  const events = await statusChanges(
    ctx,
    tx,
    number,
    statuses.map((status, i) => ({ status, result: results[i] })),
  );
  await publishEvents(tx, events);
}

async function ingestPreference(
  tx: Queryable,
  number: PhoneNumberRow,
  pref: NonNullable<WebhookValue["user_preferences"]>[number],
): Promise<ParleyEvent[]> {
  if (!pref.wa_id || pref.category !== "marketing_messages") return [];
  if (pref.value !== "stop" && pref.value !== "resume") return [];
  const status = pref.value === "stop" ? "stopped" : "resumed";
  const contact = await findOrCreateContactByWaId(tx, number.project_id, pref.wa_id);
  const occurredAt = toIso(pref.timestamp);
  const [previous] = await tx.query<{ status: string; last_event_at: string }>(sql`
    SELECT status, last_event_at FROM marketing_preferences
    WHERE contact_id = ${contact.id} AND phone_number_ref = ${number.id} FOR UPDATE`);
  // Meta delivers preference webhooks unordered: an older signal never overrides a newer one.
  if (previous && Date.parse(previous.last_event_at) > Date.parse(occurredAt)) return [];
  const [saved] = await tx.query<{ sequence: number }>(sql`
    INSERT INTO marketing_preferences (project_id, contact_id, phone_number_ref, status, detail, source, last_event_at)
    VALUES (${number.project_id}, ${contact.id}, ${number.id}, ${status}, ${pref.detail ?? null}, 'meta_webhook', ${occurredAt})
    ON CONFLICT (contact_id, phone_number_ref) DO UPDATE SET
      status = EXCLUDED.status, detail = EXCLUDED.detail, source = EXCLUDED.source,
      last_event_at = EXCLUDED.last_event_at, sequence = marketing_preferences.sequence + 1,
      updated_at = clock_timestamp()
    RETURNING sequence`);
  const c = presentContact(contact);
  return [
    {
      type: "whatsapp.contact.marketing_preference_changed",
      projectId: number.project_id,
      phoneNumberRef: number.id,
      payload: {
        contact: {
          id: c.id,
          wa_id: c.wa_id,
          profile_name: c.profile_name,
          display_name: c.display_name,
          created_at: c.created_at,
          updated_at: c.updated_at,
        },
        marketing_preference: {
          status,
          previous_status: previous?.status ?? null,
          detail: pref.detail ?? null,
          occurred_at: occurredAt,
          sequence: saved!.sequence,
        },
        phone_number_id: number.phone_number_id,
      },
    },
  ];
}

/**
 * Stores what webhook values say about their numbers — messages, statuses, preference changes —
 * in the caller's transaction, and returns the events to publish in it
 * (`publishIngestEvents`), so a webhook is acknowledged only once everything it carried is
 * committed. The messages of all the values are stored together; the events come in the
 * values' order.
 */
export async function ingestValues(
  ctx: AppContext,
  tx: Queryable,
  values: { number: PhoneNumberRow; value: WebhookValue }[],
): Promise<ParleyEvent[]> {
  const senders = await resolveSenders(ctx, tx, values);
  const messageEvents = await storeInboundMessages(ctx, tx, senders.flat());
  const events: ParleyEvent[] = [];
  for (const [i, { number, value }] of values.entries()) {
    events.push(...messageEvents.splice(0, senders[i]!.length).flat());
    events.push(
      ...(await ingestStatuses(ctx, tx, number, Array.isArray(value.statuses) ? value.statuses : [])),
    );
    for (const pref of value.user_preferences ?? [])
      events.push(...(await ingestPreference(tx, number, pref)));
  }
  return events;
}

/**
 * Publishes the events of one or more ingested values in the caller's transaction (one fan-out
 * for all of them, with Meta's bodies for `meta` webhooks) and restarts the inactivity timers of
 * every conversation that had a message in or out (outbound ones show up here with their
 * statuses).
 */
export async function publishIngestEvents(
  ctx: AppContext,
  tx: Queryable,
  events: ParleyEvent[],
  metaPayloads: MetaPayload[] = [],
): Promise<void> {
  await publishEvents(tx, events, metaPayloads);
  const active = Map.groupBy(
    events.filter((e) => e.type.startsWith("whatsapp.message.") && e.conversationId && e.phoneNumberRef),
    (e) => e.phoneNumberRef!,
  );
  for (const [phoneNumberRef, messageEvents] of active) {
    await startInactivityTimers(
      ctx,
      tx,
      phoneNumberRef,
      messageEvents.map((e) => e.conversationId!),
    );
  }
}
