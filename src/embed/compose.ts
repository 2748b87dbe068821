import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Multipart } from "@fastify/multipart";
import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { HttpError, invalid, unprocessable } from "../http/errors.ts";
import { sendMessage } from "../messaging/send.ts";
import type { ConversationRow } from "../modules/conversations/store.ts";
import { metaFailure, uploadToMeta, withTempDir } from "../modules/media/service.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { DEFAULT_SANDBOX_WABA } from "../sandbox/numbers.ts";
import { GraphApiError } from "../whatsapp/graph-client.ts";
import { MEDIA_LIMITS, mimeTypeFromName, normalizeMimeType } from "../whatsapp/media-types.ts";
import { graphTargetFor } from "../whatsapp/targets.ts";
import { expectedParameters } from "../whatsapp/template-parameters.ts";

// What the inbox's composer sends: text, media and templates, each through the one
// `sendMessage` path (24-hour window, rate limit, origin `inbox`).

async function numberOf(ctx: AppContext, conversation: ConversationRow): Promise<PhoneNumberRow> {
  const [number] = await ctx.db.query<PhoneNumberRow>(
    sql`SELECT * FROM phone_numbers WHERE id = ${conversation.phone_number_ref}`,
  );
  return number!;
}

/** What a send from the inbox answers: Parley's message, and the conversation it landed in. */
export interface InboxSent {
  id: string | undefined;
  wamid: string | undefined;
  conversation_id: string;
}

async function send(
  ctx: AppContext,
  conversation: ConversationRow,
  number: PhoneNumberRow,
  message: Record<string, unknown>,
): Promise<InboxSent> {
  const result = await sendMessage(ctx, {
    projectId: conversation.project_id,
    phoneNumber: number,
    origin: "inbox",
    body: { messaging_product: "whatsapp", to: conversation.wa_id, ...message },
  });
  if (result.status !== 200) {
    // Meta's message names the rule; its details say what happened, e.g. the 24-hour window.
    const error = (result.body as { error?: { message?: string; error_data?: { details?: string } } }).error;
    const details = error?.error_data?.details;
    const message = error?.message ?? "The message could not be sent";
    throw new HttpError(422, details ? `${message}: ${details}` : message);
  }
  // A template to an ended conversation opens a new one: the page follows it there.
  const [row] = await ctx.db.query<{ conversation_id: string }>(
    sql`SELECT conversation_id FROM messages WHERE id = ${result.messageId}`,
  );
  return {
    id: result.messageId,
    wamid: result.wamid,
    conversation_id: row?.conversation_id ?? conversation.id,
  };
}

function requireActive(conversation: ConversationRow): void {
  if (conversation.status !== "active") throw unprocessable("The conversation has ended");
}

export async function sendText(ctx: AppContext, conversation: ConversationRow, text: string) {
  requireActive(conversation);
  return send(ctx, conversation, await numberOf(ctx, conversation), { type: "text", text: { body: text } });
}

/** The WhatsApp message type for a file of `mime`: WebP images go as stickers, as Meta wants. */
function messageTypeFor(mime: string): "image" | "sticker" | "audio" | "video" | "document" {
  if (mime === "image/webp") return "sticker";
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("audio/")) return "audio";
  if (mime.startsWith("video/")) return "video";
  return "document";
}

/** Caption limit of WhatsApp media messages. */
const MAX_CAPTION = 1024;

/** A file received from a multipart body, saved to a temporary file. */
interface ReceivedFile {
  path: string;
  filename: string;
  mime: string;
  truncated: boolean;
}

/**
 * Reads a multipart body (parts in any order): the part named `file` is streamed to a temporary
 * file in `dir` (never held in memory); text fields are collected by name, repeated ones in order.
 */
async function receiveParts(parts: AsyncIterable<Multipart>, dir: string) {
  let file: ReceivedFile | undefined;
  const fields = new Map<string, string[]>();
  for await (const part of parts) {
    if (part.type === "file" && part.fieldname === "file" && !file) {
      const saved = path.join(dir, "upload");
      await pipeline(part.file, fs.createWriteStream(saved));
      file = { path: saved, filename: part.filename, mime: part.mimetype, truncated: part.file.truncated };
    } else if (part.type === "file") {
      part.file.resume();
    } else if (typeof part.value === "string") {
      fields.set(part.fieldname, [...(fields.get(part.fieldname) ?? []), part.value]);
    }
  }
  return { file, fields };
}

/**
 * Checks a received file against Meta's types and size limits and uploads it to the number's
 * media on Meta (or the sandbox) with the upload the Meta proxy uses; answers its media id.
 */
async function uploadReceived(ctx: AppContext, number: PhoneNumberRow, file: ReceivedFile | undefined) {
  if (!file) throw invalid("file", "is required");
  let mime = normalizeMimeType(file.mime || "application/octet-stream");
  if (!MEDIA_LIMITS[mime]) mime = mimeTypeFromName(file.filename) ?? mime;
  const limit = MEDIA_LIMITS[mime];
  if (!limit) throw invalid("file", `has type ${mime}, which WhatsApp does not accept`);
  const size = (await fs.promises.stat(file.path)).size;
  if (file.truncated || size > limit) {
    throw new HttpError(413, `file is larger than ${limit} bytes, the limit for ${mime}`);
  }
  if (size === 0) throw invalid("file", "is empty");
  let mediaId: string | undefined;
  try {
    const uploaded = await uploadToMeta(
      ctx,
      number,
      { messaging_product: "whatsapp", type: mime },
      { path: file.path, filename: file.filename || undefined, contentType: mime },
    );
    mediaId = uploaded.id;
  } catch (err) {
    if (err instanceof GraphApiError) throw metaFailure(err);
    throw err;
  }
  if (!mediaId) throw new HttpError(502, "Meta API error: the upload returned no id");
  return { mediaId, mime, filename: file.filename };
}

/**
 * A media reply from a multipart body (`file`, optional `caption`), uploaded to the number's
 * media and sent by its media id.
 */
export async function sendMedia(
  ctx: AppContext,
  conversation: ConversationRow,
  parts: AsyncIterable<Multipart>,
): Promise<InboxSent> {
  requireActive(conversation);
  const number = await numberOf(ctx, conversation);
  return withTempDir(async (dir) => {
    const { file, fields } = await receiveParts(parts, dir);
    const caption = fields.get("caption")?.[0]?.trim() || undefined;
    if (caption && caption.length > MAX_CAPTION)
      throw invalid("caption", `must be at most ${MAX_CAPTION} characters`);
    const { mediaId, mime, filename } = await uploadReceived(ctx, number, file);
    const type = messageTypeFor(mime);
    const media: Record<string, unknown> = { id: mediaId };
    if (caption && type !== "audio" && type !== "sticker") media.caption = caption;
    if (type === "document" && filename) media.filename = filename;
    return send(ctx, conversation, number, { type, [type]: media });
  });
}

interface MetaTemplate {
  name: string;
  language: string;
  status: string;
  category: string;
  components?: Record<string, unknown>[];
}

/** The WABA whose templates the number sends (a sandbox number without one uses the sandbox's). */
function wabaOf(number: PhoneNumberRow): string | null {
  return number.business_account_id ?? (number.kind === "sandbox" ? DEFAULT_SANDBOX_WABA : null);
}

const headerFormat = (header: Record<string, unknown>) => String(header.format ?? "TEXT").toUpperCase();

const textOf = (components: Record<string, unknown>[], type: string) => {
  const component = components.find((c) => String(c.type).toUpperCase() === type);
  return typeof component?.text === "string" ? component.text : null;
};

/** Header formats the inbox can fill in: text, or a file the agent picks for a media header. */
const FILLABLE_HEADERS = ["TEXT", "IMAGE", "VIDEO", "DOCUMENT"];

/**
 * The approved templates of the conversation's number's WABA that the inbox can fill in (no
 * header, a text header, or an image, video or document header). Each comes with its header
 * format, header and body text, and how many text parameters each takes.
 */
export async function listTemplates(ctx: AppContext, conversation: ConversationRow) {
  const number = await numberOf(ctx, conversation);
  const waba = wabaOf(number);
  if (!waba) return [];
  const templates: MetaTemplate[] = [];
  let after: string | undefined;
  try {
    // Meta pages by 100 at most; a WABA holds at most a few hundred templates.
    for (let page = 0; page < 10; page++) {
      const found = await ctx.graph.request<{
        data?: MetaTemplate[];
        paging?: { cursors?: { after?: string } };
      }>(graphTargetFor(ctx, number), {
        path: `/${waba}/message_templates`,
        query: { status: "APPROVED", limit: 100, ...(after ? { after } : {}) },
      });
      templates.push(...(found.data ?? []));
      after = found.paging?.cursors?.after;
      if (!after || (found.data ?? []).length < 100) break;
    }
  } catch (err) {
    if (err instanceof GraphApiError) throw metaFailure(err);
    throw err;
  }
  return templates
    .filter((t) => t.status === "APPROVED")
    .filter((t) => {
      const header = (t.components ?? []).find((c) => String(c.type).toUpperCase() === "HEADER");
      return !header || FILLABLE_HEADERS.includes(headerFormat(header));
    })
    .map((t) => {
      const components = t.components ?? [];
      const header = components.find((c) => String(c.type).toUpperCase() === "HEADER");
      const format = header ? headerFormat(header) : null;
      return {
        name: t.name,
        language: t.language,
        category: t.category,
        header_format: format,
        header: textOf(components, "HEADER"),
        body: textOf(components, "BODY"),
        header_parameters: format === "TEXT" ? expectedParameters(components, "header") : 0,
        body_parameters: expectedParameters(components, "body"),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
}

/** Limits of a template choice, for the JSON schema and the multipart form alike. */
export const TEMPLATE_LIMITS = { name: 512, language: 16, parameters: 20, parameter: 1024 } as const;

export interface TemplateChoice {
  name: string;
  language: string;
  header_parameters?: string[];
  body_parameters?: string[];
}

/** The file of a template's media header, already uploaded to the number's media. */
interface HeaderMedia {
  type: "image" | "video" | "document";
  id: string;
  filename?: string;
}

/**
 * Sends an approved template, the way back to a contact outside the 24-hour window. Meta (or
 * the sandbox) checks the template, its approval and the parameter counts; an ended
 * conversation gets a new one, as any send to the contact would.
 */
export async function sendTemplate(
  ctx: AppContext,
  conversation: ConversationRow,
  choice: TemplateChoice,
  headerMedia?: HeaderMedia,
) {
  const text = (values: string[]) => values.map((value) => ({ type: "text", text: value }));
  const { type, ...media } = headerMedia ?? {};
  const header = type
    ? [{ type: "header", parameters: [{ type, [type]: media }] }]
    : choice.header_parameters?.length
      ? [{ type: "header", parameters: text(choice.header_parameters) }]
      : [];
  const components = [
    ...header,
    ...(choice.body_parameters?.length ? [{ type: "body", parameters: text(choice.body_parameters) }] : []),
  ];
  return send(ctx, conversation, await numberOf(ctx, conversation), {
    type: "template",
    template: {
      name: choice.name,
      language: { code: choice.language },
      ...(components.length ? { components } : {}),
    },
  });
}

/** The header parameter type a file goes as: what Meta takes in an image or video header, else a document. */
function headerTypeFor(mime: string): HeaderMedia["type"] {
  if (mime === "image/jpeg" || mime === "image/png") return "image";
  if (mime === "video/mp4" || mime === "video/3gpp") return "video";
  return "document";
}

/**
 * A template with an image, video or document header, from a multipart body: `name`,
 * `language`, `body_parameters` (repeated, in order) and the header's `file`, which is uploaded
 * to the number's media first and sent by its id.
 */
export async function sendTemplateWithMedia(
  ctx: AppContext,
  conversation: ConversationRow,
  parts: AsyncIterable<Multipart>,
): Promise<InboxSent> {
  const number = await numberOf(ctx, conversation);
  return withTempDir(async (dir) => {
    const { file, fields } = await receiveParts(parts, dir);
    const single = (name: string, max: number) => {
      const value = fields.get(name)?.[0]?.trim();
      if (!value) throw invalid(name, "is required");
      if (value.length > max) throw invalid(name, `must be at most ${max} characters`);
      return value;
    };
    const name = single("name", TEMPLATE_LIMITS.name);
    const language = single("language", TEMPLATE_LIMITS.language);
    const bodyParameters = fields.get("body_parameters") ?? [];
    if (bodyParameters.length > TEMPLATE_LIMITS.parameters)
      throw invalid("body_parameters", `must have at most ${TEMPLATE_LIMITS.parameters} items`);
    if (bodyParameters.some((v) => v.length === 0 || v.length > TEMPLATE_LIMITS.parameter)) {
      throw invalid("body_parameters", `must each be 1 to ${TEMPLATE_LIMITS.parameter} characters`);
    }
    const { mediaId, mime, filename } = await uploadReceived(ctx, number, file);
    const type = headerTypeFor(mime);
    return sendTemplate(
      ctx,
      conversation,
      { name, language, body_parameters: bodyParameters },
      { type, id: mediaId, ...(type === "document" && filename ? { filename } : {}) },
    );
  });
}
