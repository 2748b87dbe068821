import type { AppContext } from "../context.ts";
import { HttpError } from "../http/errors.ts";
import { isUuid } from "../lib/ids.ts";
import * as contacts from "../modules/contacts/service.ts";
import * as conversations from "../modules/conversations/service.ts";
import { MetaApiError, metaError, unknownObjectError } from "../whatsapp/meta-errors.ts";

// Kapso's contact and conversation updates on the proxy: the Platform API's services behind
// Meta's request and error shapes.

const invalidParam = (message: string) =>
  new MetaApiError(metaError("invalidParameter", `(#100) ${message}`));

/** A JSON body must be an object with only the parameters the endpoint takes. */
function bodyOf(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidParam("The request body must be a JSON object");
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalidParam(`Param ${key} is not a valid parameter`);
  }
  return body as Record<string, unknown>;
}

/** Runs a Platform service call, answering its refusals as Meta's errors (unknown id: 100/33). */
async function asMetaRefusal<T>(id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof HttpError && err.statusCode === 404) throw new MetaApiError(unknownObjectError(id));
    if (err instanceof HttpError && err.statusCode < 500) throw invalidParam(err.message);
    throw err;
  }
}

const CONTACT_FIELDS = ["profile_name", "display_name", "metadata"] as const;

/**
 * `PATCH /{phone_number_id}/contacts/{wa_id}` (`{profile_name?, display_name?, metadata?}`):
 * the Platform API's contact update; `metadata` replaces the stored object.
 */
export async function updateContact(ctx: AppContext, projectId: string, waId: string, rawBody: unknown) {
  const body = bodyOf(rawBody, CONTACT_FIELDS);
  if (!CONTACT_FIELDS.some((field) => body[field] !== undefined)) {
    throw invalidParam("At least one of profile_name, display_name or metadata is required");
  }
  for (const field of ["profile_name", "display_name"] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && (typeof value !== "string" || value.length > 255)) {
      throw invalidParam(`Param ${field} must be a string of at most 255 characters, or null`);
    }
  }
  const { metadata } = body;
  if (
    metadata !== undefined &&
    (typeof metadata !== "object" || metadata === null || Array.isArray(metadata))
  ) {
    throw invalidParam("Param metadata must be a JSON object");
  }
  await asMetaRefusal(waId, () =>
    contacts.updateContact(ctx, projectId, waId, {
      profile_name: body.profile_name as string | null | undefined,
      display_name: body.display_name as string | null | undefined,
      metadata: metadata as Record<string, unknown> | undefined,
    }),
  );
  return { success: true };
}

/** `PATCH /conversations/{conversation_id}` (`{status: "active" | "ended"}`). */
export async function updateConversation(
  ctx: AppContext,
  projectId: string,
  conversationId: string,
  rawBody: unknown,
) {
  const body = bodyOf(rawBody, ["status"]);
  if (body.status === undefined) throw invalidParam("The parameter status is required.");
  if (body.status !== "active" && body.status !== "ended") {
    throw invalidParam("Param status must be active or ended");
  }
  const status = body.status;
  if (!isUuid(conversationId)) throw new MetaApiError(unknownObjectError(conversationId));
  await asMetaRefusal(conversationId, () =>
    conversations.updateConversationStatus(ctx, projectId, conversationId, status),
  );
  return { success: true };
}
