import type { AppContext } from "../context.ts";
import { notFound, unprocessable } from "../http/errors.ts";
import { type OffsetParams, offsetPage } from "../http/pagination.ts";
import { findProjectPhoneNumber } from "../modules/phone-numbers/store.ts";
import type { CreateFailureInput, InboundInput, ListSendsFilters } from "./control-schemas.ts";
import { simulateInbound, simulateWebhookValue } from "./inbound.ts";
import * as store from "./store.ts";

// The sandbox's controls (Platform-API-key authenticated): each acts on a number of the
// caller's project only; another project's number is a 404, as everywhere.

async function requireNumber(ctx: AppContext, projectId: string, phoneNumberId: string) {
  const number = await findProjectPhoneNumber(ctx.db, projectId, phoneNumberId);
  if (!number) throw notFound("Phone number");
  return number;
}

/** Meta's wording for the codes tests inject most. */
const DEFAULT_MESSAGES: Record<number, string> = {
  0: "AuthException",
  4: "Application request limit reached",
  100: "Invalid parameter",
  190: "Invalid OAuth access token - Cannot parse access token",
  130429: "Rate limit hit",
  131000: "Something went wrong",
  131005: "Access denied",
  131026: "Message undeliverable",
  131047: "Re-engagement message",
  131049: "This message was not delivered to maintain healthy ecosystem engagement.",
  131050:
    "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
  131051: "Unsupported message type",
  131053: "Media upload error",
  131056: "(Business Account, Consumer Account) pair rate limit hit",
  132000: "Number of parameters does not match the expected number of params",
  132001: "Template name does not exist in the translation",
  133010: "Phone number Not Registered",
};

/** The HTTP status Meta answers a synchronous error with, when the caller does not say. */
function defaultHttpStatus(code: number): number {
  if (code === 190 || code === 0) return 401;
  if ([4, 80007, 130429, 131056].includes(code)) return 429;
  if ([1, 2, 131000, 131016].includes(code)) return 500;
  return 400;
}

export async function injectFailure(ctx: AppContext, projectId: string, input: CreateFailureInput) {
  await requireNumber(ctx, projectId, input.phone_number_id);
  const mode = input.mode ?? "sync";
  if (mode === "async" && input.operation !== "send" && input.operation !== "template") {
    throw unprocessable(`mode async is only available for the send and template operations`);
  }
  const error = {
    ...input.error,
    message: input.error.message ?? DEFAULT_MESSAGES[input.error.code] ?? "Injected sandbox failure",
  };
  return store.insertFailure(ctx.db, {
    phone_number_id: input.phone_number_id,
    operation: input.operation,
    remaining: input.remaining ?? 1,
    error,
    http_status: input.http_status ?? defaultHttpStatus(input.error.code),
    mode,
  });
}

export async function clearFailures(ctx: AppContext, projectId: string, phoneNumberId: string) {
  await requireNumber(ctx, projectId, phoneNumberId);
  await store.clearFailures(ctx.db, phoneNumberId);
}

export async function listSends(
  ctx: AppContext,
  projectId: string,
  filters: ListSendsFilters,
  page: OffsetParams,
) {
  await requireNumber(ctx, projectId, filters.phone_number_id);
  const recipient = filters.recipient?.replace(/\D/g, "");
  const { rows, total } = await store.listSends(
    ctx.db,
    { phoneNumberId: filters.phone_number_id, recipient: recipient || undefined },
    page,
  );
  return offsetPage(rows, total, page);
}

export async function inbound(ctx: AppContext, projectId: string, input: InboundInput) {
  await requireNumber(ctx, projectId, input.phone_number_id);
  const given = [input.text, input.message, input.value].filter((v) => v !== undefined).length;
  if (given !== 1) throw unprocessable("Exactly one of text, message or value is required");
  if (input.value) {
    return simulateWebhookValue(ctx, {
      phoneNumberId: input.phone_number_id,
      value: input.value,
      field: input.field,
    });
  }
  if (!input.from) throw unprocessable("from is required");
  return simulateInbound(ctx, {
    phoneNumberId: input.phone_number_id,
    from: input.from,
    profileName: input.profile_name,
    message: input.text !== undefined ? { type: "text", text: { body: input.text } } : input.message!,
  });
}
