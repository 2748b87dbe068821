import { INTERACTIVE_TYPES, MESSAGE_TYPES } from "../whatsapp/message-validation.ts";
import { templateParameterMismatch } from "../whatsapp/template-parameters.ts";
import { refuse } from "./errors.ts";

// Structural checks of a `POST /{phone_number_id}/messages` body, with Meta's codes: what a
// client would be refused by Meta synchronously. Delivery-time problems (an unreachable
// recipient, …) are Meta's asynchronous `failed` statuses; the sandbox produces those only
// when a failure is injected.

type Body = Record<string, unknown>;

export interface CheckedSend {
  type: (typeof MESSAGE_TYPES)[number];
  /** The recipient as Meta reports it: digits only. */
  waId: string;
  mediaIds: string[];
  template?: { name: string; language: string; components: Body[] };
}

const isObject = (v: unknown): v is Body => typeof v === "object" && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

function required(path: string): never {
  refuse("invalidParameter", `The parameter ${path} is required.`);
}

function invalid(path: string, details: string): never {
  refuse("invalidParameter", "Invalid parameter", `${path}: ${details}`);
}

function checkUrl(path: string, value: unknown): void {
  if (!isText(value)) required(path);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid(path, "must be a valid http(s) URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") invalid(path, "must be a valid http(s) URL");
}

function checkMedia(type: string, media: unknown, mediaIds: string[]): void {
  if (!isObject(media)) required(type);
  const hasId = media.id !== undefined;
  const hasLink = media.link !== undefined;
  if (hasId === hasLink) {
    refuse("invalidParameter", "Invalid parameter", `${type}: exactly one of id or link is required`);
  }
  if (hasId) {
    if (!isText(media.id)) invalid(`${type}['id']`, "must be a media id");
    mediaIds.push(media.id);
  } else {
    checkUrl(`${type}['link']`, media.link);
  }
  if (media.caption !== undefined && (type === "audio" || type === "sticker")) {
    invalid(`${type}['caption']`, `captions are not supported for ${type}`);
  }
  if (media.caption !== undefined && (typeof media.caption !== "string" || media.caption.length > 1024)) {
    invalid(`${type}['caption']`, "must be text of at most 1024 characters");
  }
}

function checkInteractive(interactive: unknown): void {
  if (!isObject(interactive)) required("interactive");
  const type = interactive.type;
  if (!isText(type)) required("interactive['type']");
  if (!INTERACTIVE_TYPES.includes(type)) {
    invalid("interactive['type']", `must be one of ${INTERACTIVE_TYPES.join(", ")}`);
  }
  const action = interactive.action;
  const needsBody = ["button", "list", "cta_url", "flow", "location_request_message", "product_list"];
  if (needsBody.includes(type)) {
    const body = interactive.body;
    if (!isObject(body) || !isText(body.text)) required("interactive['body']['text']");
    if (body.text.length > 1024) invalid("interactive['body']['text']", "must be at most 1024 characters");
  }
  if (type === "location_request_message") return;
  if (!isObject(action)) required("interactive['action']");
  if (type === "button") {
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) {
      invalid("interactive['action']['buttons']", "must have 1 to 3 buttons");
    }
    const ids = new Set<string>();
    buttons.forEach((button: unknown, i) => {
      const reply = isObject(button) ? button.reply : undefined;
      if (!isObject(button) || button.type !== "reply" || !isObject(reply)) {
        invalid(`interactive['action']['buttons'][${i}]`, 'must be {"type": "reply", "reply": {id, title}}');
      }
      if (!isText(reply.id)) required(`interactive['action']['buttons'][${i}]['reply']['id']`);
      if (!isText(reply.title)) required(`interactive['action']['buttons'][${i}]['reply']['title']`);
      if (reply.title.length > 20) {
        invalid(`interactive['action']['buttons'][${i}]['reply']['title']`, "must be at most 20 characters");
      }
      if (ids.has(reply.id)) invalid("interactive['action']['buttons']", "button ids must be unique");
      ids.add(reply.id);
    });
  }
  if (type === "list") {
    if (!isText(action.button)) required("interactive['action']['button']");
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) {
      invalid("interactive['action']['sections']", "must have 1 to 10 sections");
    }
    let rows = 0;
    sections.forEach((section: unknown, i) => {
      if (!isObject(section) || !Array.isArray(section.rows) || section.rows.length === 0) {
        invalid(`interactive['action']['sections'][${i}]['rows']`, "must have at least one row");
      }
      for (const [j, row] of section.rows.entries()) {
        if (!isObject(row) || !isText(row.id) || !isText(row.title)) {
          required(`interactive['action']['sections'][${i}]['rows'][${j}]['id' and 'title']`);
        }
        rows++;
      }
    });
    if (rows > 10) invalid("interactive['action']['sections']", "must have at most 10 rows in total");
  }
  if (type === "cta_url") {
    const parameters = action.parameters;
    if (!isObject(parameters) || !isText(parameters.display_text)) {
      required("interactive['action']['parameters']['display_text']");
    }
    checkUrl("interactive['action']['parameters']['url']", parameters.url);
  }
}

/**
 * Checks the parameters of a template send against the approved template: as many header and
 * body parameters as the template has placeholders (Meta's 132000 otherwise).
 */
export function checkTemplateParameters(templateComponents: Body[], sent: Body[]): void {
  const mismatch = templateParameterMismatch(templateComponents, sent);
  if (mismatch) {
    refuse(
      "templateParamCount",
      "Number of parameters does not match the expected number of params",
      `${mismatch.part}: number of localizable_params (${mismatch.given}) does not match the expected number of params (${mismatch.expected})`,
    );
  }
}

/** Validates a send like Meta; `type` defaults to `text`, as Meta's does. */
export function checkSend(body: Body): CheckedSend {
  if (body.messaging_product === undefined) required("messaging_product");
  if (body.messaging_product !== "whatsapp") {
    invalid("messaging_product", "must be whatsapp");
  }
  if (body.recipient_type !== undefined && body.recipient_type !== "individual") {
    invalid("recipient_type", "must be individual");
  }
  if (body.to === undefined || body.to === "") required("to");
  if (typeof body.to !== "string" || !/^\+?[\d\s().-]{5,30}$/.test(body.to)) {
    invalid("to", "must be a phone number in international format");
  }
  const waId = body.to.replace(/\D/g, "");
  if (waId.length < 5 || waId.length > 20) invalid("to", "must be a phone number in international format");
  const type = (body.type ?? "text") as CheckedSend["type"];
  if (!MESSAGE_TYPES.includes(type)) invalid("type", `must be one of ${MESSAGE_TYPES.join(", ")}`);
  if (body.context !== undefined) {
    if (!isObject(body.context) || !isText(body.context.message_id)) required("context['message_id']");
  }
  const value = body[type];
  if (value === undefined) required(type);
  const mediaIds: string[] = [];
  const result: CheckedSend = { type, waId, mediaIds };
  switch (type) {
    case "text": {
      if (!isObject(value) || !isText(value.body)) required("text['body']");
      if (value.body.length > 4096) invalid("text['body']", "must be at most 4096 characters");
      break;
    }
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker":
      checkMedia(type, value, mediaIds);
      break;
    case "location": {
      if (!isObject(value)) required("location");
      for (const key of ["latitude", "longitude"]) {
        const n = typeof value[key] === "string" ? Number(value[key]) : value[key];
        if (typeof n !== "number" || !Number.isFinite(n)) required(`location['${key}']`);
      }
      break;
    }
    case "contacts": {
      if (!Array.isArray(value) || value.length === 0) required("contacts");
      value.forEach((contact: unknown, i) => {
        const name = isObject(contact) ? contact.name : undefined;
        if (!isObject(name) || !isText(name.formatted_name))
          required(`contacts[${i}]['name']['formatted_name']`);
      });
      break;
    }
    case "reaction": {
      if (!isObject(value) || !isText(value.message_id)) required("reaction['message_id']");
      if (typeof value.emoji !== "string") required("reaction['emoji']");
      break;
    }
    case "interactive":
      checkInteractive(value);
      break;
    case "template": {
      if (!isObject(value) || !isText(value.name)) required("template['name']");
      const language = value.language;
      if (!isObject(language) || !isText(language.code)) required("template['language']['code']");
      if (value.components !== undefined && !Array.isArray(value.components)) {
        invalid("template['components']", "must be an array");
      }
      result.template = {
        name: value.name,
        language: language.code,
        components: ((value.components as unknown[]) ?? []).filter(isObject),
      };
      break;
    }
  }
  return result;
}
