import { MetaApiError, metaError } from "./meta-errors.ts";

/** The message types Meta's `/messages` accepts. */
export const MESSAGE_TYPES = [
  "text",
  "image",
  "audio",
  "video",
  "document",
  "sticker",
  "location",
  "contacts",
  "interactive",
  "template",
  "reaction",
] as const;

/** Message types that carry media (by `id` or `link`). */
const MEDIA_TYPES = ["image", "audio", "video", "document", "sticker"] as const;
/** The `interactive.type` values Meta accepts. */
export const INTERACTIVE_TYPES = [
  "button",
  "list",
  "cta_url",
  "flow",
  "location_request_message",
  "address",
  "product",
  "product_list",
  "catalog_message",
  "carousel",
  "call_permission_request",
];
const MEDIA = new Set<string>(MEDIA_TYPES);
const INTERACTIVE = new Set(INTERACTIVE_TYPES);

const fail = (message: string, details: string) =>
  new MetaApiError(metaError("invalidParameter", `(#100) ${message}`, details));
const missing = (field: string) =>
  new MetaApiError(
    metaError(
      "missingParameter",
      "(#131008) Required parameter is missing",
      `Parameter '${field}' is required`,
    ),
  );

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim() !== "";

/** `true` for Meta's mark-as-read request (`{"status": "read", "message_id"}`). */
export function isMarkAsRead(body: Record<string, unknown>): boolean {
  return body.status === "read";
}

/** `+1 (555) 010-2000` → `15550102000`; Meta's error when it is no phone number. */
export function normalizeRecipient(to: unknown): string {
  if (!nonEmpty(to)) throw missing("to");
  const digits = to.replace(/[\s()+.-]/g, "");
  if (!/^\d{6,20}$/.test(digits)) throw fail("Invalid parameter", `Param to must be a valid phone number`);
  return digits;
}

/**
 * Checks a `/messages` body the way Meta does before accepting it, throwing Meta's error (code
 * 100 / 131008) that names the offending parameter. Returns the message type.
 */
export function validateSendBody(body: unknown): { type: (typeof MESSAGE_TYPES)[number]; to: string } {
  if (!isObject(body)) throw fail("Invalid parameter", "Request body must be a JSON object");
  if (body.messaging_product !== "whatsapp") {
    throw fail("The parameter messaging_product is required.", 'messaging_product must be "whatsapp"');
  }
  if (isMarkAsRead(body)) {
    if (!nonEmpty(body.message_id)) throw missing("message_id");
    return { type: "text", to: "" };
  }
  const to = normalizeRecipient(body.to);
  const type = (body.type ?? "text") as string;
  if (!(MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw fail("Invalid parameter", `Param type must be one of {${MESSAGE_TYPES.join(", ")}}`);
  }
  const object = body[type];
  if (!isObject(object) && !(type === "contacts" && Array.isArray(object))) throw missing(type);
  if (body.context !== undefined && !(isObject(body.context) && nonEmpty(body.context.message_id))) {
    throw fail("Invalid parameter", "Param context.message_id must be a message id");
  }
  const o = object as Record<string, unknown>;
  if (type === "text") {
    if (!nonEmpty(o.body)) throw missing("text.body");
    if ((o.body as string).length > 4096)
      throw fail("Invalid parameter", "Param text.body must be at most 4096 characters");
  } else if (MEDIA.has(type)) {
    if (!nonEmpty(o.id) && !nonEmpty(o.link)) throw missing(`${type}.id or ${type}.link`);
    if (nonEmpty(o.link) && !/^https?:\/\//.test(o.link as string)) {
      throw fail("Invalid parameter", `Param ${type}.link must be an http(s) URL`);
    }
    if (o.caption !== undefined && (type === "audio" || type === "sticker")) {
      throw fail("Invalid parameter", `Param ${type}.caption is not allowed`);
    }
  } else if (type === "location") {
    for (const field of ["latitude", "longitude"]) {
      const v = Number(o[field]);
      if (o[field] === undefined || Number.isNaN(v)) throw missing(`location.${field}`);
    }
  } else if (type === "contacts") {
    if (!Array.isArray(object) || object.length === 0) throw missing("contacts");
    object.forEach((c, i) => {
      if (!isObject(c) || !isObject(c.name) || !nonEmpty(c.name.formatted_name))
        throw missing(`contacts[${i}].name.formatted_name`);
    });
  } else if (type === "reaction") {
    if (!nonEmpty(o.message_id)) throw missing("reaction.message_id");
    if (typeof o.emoji !== "string") throw missing("reaction.emoji");
  } else if (type === "interactive") {
    if (!nonEmpty(o.type) || !INTERACTIVE.has(o.type as string)) {
      throw fail(
        "Invalid parameter",
        `Param interactive.type must be one of {${INTERACTIVE_TYPES.join(", ")}}`,
      );
    }
    if (
      o.type !== "location_request_message" &&
      o.type !== "catalog_message" &&
      o.type !== "product" &&
      o.type !== "product_list" &&
      o.type !== "carousel"
    ) {
      if (!isObject(o.body) || !nonEmpty(o.body.text)) throw missing("interactive.body.text");
    }
    if (!isObject(o.action)) throw missing("interactive.action");
    const action = o.action;
    if (o.type === "button") {
      const buttons = action.buttons;
      if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) {
        throw fail("Invalid parameter", "Param interactive.action.buttons must have 1 to 3 buttons");
      }
    }
    if (o.type === "list") {
      if (!nonEmpty(action.button)) throw missing("interactive.action.button");
      if (!Array.isArray(action.sections) || action.sections.length === 0)
        throw missing("interactive.action.sections");
    }
    if (o.type === "cta_url") {
      const p = isObject(action.parameters) ? action.parameters : {};
      if (!nonEmpty(p.display_text) || !nonEmpty(p.url))
        throw missing("interactive.action.parameters.display_text and url");
    }
  } else if (type === "template") {
    if (!nonEmpty(o.name)) throw missing("template.name");
    if (!isObject(o.language) || !nonEmpty(o.language.code)) throw missing("template.language.code");
    if (o.components !== undefined && !Array.isArray(o.components)) {
      throw fail("Invalid parameter", "Param template.components must be an array");
    }
  }
  return { type: type as (typeof MESSAGE_TYPES)[number], to };
}
