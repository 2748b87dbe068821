import { randomBytes } from "node:crypto";
import type { AppContext } from "../context.ts";
import { HttpError, invalid, notFound } from "../http/errors.ts";
import { findLivePhoneNumberByMetaId } from "../modules/phone-numbers/store.ts";
import { postWebhook } from "./webhooks.ts";

export interface SimulateInboundInput {
  /** Meta's id of a live Parley number (sandbox or production kind). */
  phoneNumberId: string;
  /** The sender's WhatsApp id (phone digits; a leading `+` and separators are dropped). */
  from: string;
  profileName?: string;
  /**
   * The Meta message object without `from`/`id`/`timestamp` (filled in unless given), e.g.
   * `{type: "text", text: {body: "hi"}}` or `{type: "image", image: {id, mime_type}}`.
   */
  message: Record<string, unknown>;
}

export interface SimulatedWebhook {
  /** HTTP status the receiver answered with. */
  receiver_status: number;
}

async function deliver(
  ctx: AppContext,
  phoneNumberId: string,
  value: Record<string, unknown>,
  field?: string,
): Promise<SimulatedWebhook> {
  let result: Awaited<ReturnType<typeof postWebhook>>;
  try {
    result = await postWebhook(ctx, phoneNumberId, value, field);
  } catch (err) {
    throw new HttpError(502, `Could not reach the webhook receiver: ${(err as Error).message}`);
  }
  if (result.status >= 300) {
    throw new HttpError(502, `The webhook receiver answered ${result.status}: ${result.body.slice(0, 200)}`);
  }
  return { receiver_status: result.status };
}

async function requireNumber(ctx: AppContext, phoneNumberId: string): Promise<void> {
  if (!(await findLivePhoneNumberByMetaId(ctx.db, phoneNumberId))) throw notFound("Phone number");
}

/**
 * Turns a simple description of an inbound message into the signed Meta webhook Meta would
 * send, and posts it to Parley's receiver at once, so the real ingest path runs. Resolves when
 * the receiver has answered 2xx; a refusal or an unreachable receiver is a 502.
 */
export async function simulateInbound(
  ctx: AppContext,
  input: SimulateInboundInput,
): Promise<SimulatedWebhook & { wamid: string; from: string; phone_number_id: string }> {
  await requireNumber(ctx, input.phoneNumberId);
  const from = input.from.replace(/[\s()+.-]/g, "");
  if (!/^\d{5,20}$/.test(from)) throw invalid("from", "must be a phone number (digits, optionally with +)");
  const type = input.message.type ?? "text";
  if (typeof type !== "string") throw invalid("message.type", "must be a string");
  const wamid =
    typeof input.message.id === "string"
      ? input.message.id
      : `wamid.${Buffer.from(`HBgL${from}FQIAEhgU${randomBytes(10).toString("hex").toUpperCase()}`).toString("base64")}`;
  const message = {
    from,
    id: wamid,
    timestamp: String(Math.floor(Date.now() / 1000)),
    ...input.message,
    type,
  };
  const result = await deliver(ctx, input.phoneNumberId, {
    contacts: [{ profile: { name: input.profileName ?? from }, wa_id: from }],
    messages: [message],
  });
  return { ...result, wamid, from, phone_number_id: input.phoneNumberId };
}

/** Posts any webhook `value` (statuses, errors, account updates…) for a number, signed. */
export async function simulateWebhookValue(
  ctx: AppContext,
  input: { phoneNumberId: string; value: Record<string, unknown>; field?: string },
): Promise<SimulatedWebhook> {
  await requireNumber(ctx, input.phoneNumberId);
  return deliver(ctx, input.phoneNumberId, input.value, input.field);
}
