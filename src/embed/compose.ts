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

/**
 * A media reply from a multipart body (`file`, optional `caption`, in any order): the file is
 * streamed to a temporary file (never held in memory), checked against Meta's types and size
 * limits, uploaded to the number's media on Meta (or the sandbox) with the upload the Meta
 * proxy uses, then sent by its media id.
 */
export async function sendMedia(
  ctx: AppContext,
  conversation: ConversationRow,
  parts: AsyncIterable<Multipart>,
): Promise<InboxSent> {
  requireActive(conversation);
  const number = await numberOf(ctx, conversation);
  return withTempDir(async (dir) => {
    const saved = path.join(dir, "upload");
    let file: { filename: string; mime: string; truncated: boolean } | undefined;
    let caption: string | undefined;
    for await (const part of parts) {
      if (part.type === "file" && part.fieldname === "file" && !file) {
        await pipeline(part.file, fs.createWriteStream(saved));
        file = { filename: part.filename, mime: part.mimetype, truncated: part.file.truncated };
      } else if (part.type === "file") {
        part.file.resume();
      } else if (part.fieldname === "caption" && typeof part.value === "string") {
        caption = part.value.trim() || undefined;
      }
    }
    if (!file) throw invalid("file", "is required");
    if (caption && caption.length > MAX_CAPTION)
      throw invalid("caption", `must be at most ${MAX_CAPTION} characters`);
    let mime = normalizeMimeType(file.mime || "application/octet-stream");
    if (!MEDIA_LIMITS[mime]) mime = mimeTypeFromName(file.filename) ?? mime;
    const limit = MEDIA_LIMITS[mime];
    if (!limit) throw invalid("file", `has type ${mime}, which WhatsApp does not accept`);
    const size = (await fs.promises.stat(saved)).size;
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
        { path: saved, filename: file.filename || undefined, contentType: mime },
      );
      mediaId = uploaded.id;
    } catch (err) {
      if (err instanceof GraphApiError) throw metaFailure(err);
      throw err;
    }
    if (!mediaId) throw new HttpError(502, "Meta API error: the upload returned no id");
    const type = messageTypeFor(mime);
    const media: Record<string, unknown> = { id: mediaId };
    if (caption && type !== "audio" && type !== "sticker") media.caption = caption;
    if (type === "document" && file.filename) media.filename = file.filename;
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

const textOf = (components: Record<string, unknown>[], type: string) => {
  const component = components.find((c) => String(c.type).toUpperCase() === type);
  return typeof component?.text === "string" ? component.text : null;
};

/**
 * The approved templates of the conversation's number's WABA that the inbox can fill in: no
 * header, or a text header (a media header would need a file). Each comes with its header and
 * body text and how many parameters each takes.
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
      return !header || String(header.format ?? "TEXT").toUpperCase() === "TEXT";
    })
    .map((t) => {
      const components = t.components ?? [];
      return {
        name: t.name,
        language: t.language,
        category: t.category,
        header: textOf(components, "HEADER"),
        body: textOf(components, "BODY"),
        header_parameters: expectedParameters(components, "header"),
        body_parameters: expectedParameters(components, "body"),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
}

export interface TemplateChoice {
  name: string;
  language: string;
  header_parameters?: string[];
  body_parameters?: string[];
}

/**
 * Sends an approved template, the way back to a contact outside the 24-hour window. Meta (or
 * the sandbox) checks the template, its approval and the parameter counts; an ended
 * conversation gets a new one, as any send to the contact would.
 */
export async function sendTemplate(ctx: AppContext, conversation: ConversationRow, choice: TemplateChoice) {
  const text = (values: string[]) => values.map((value) => ({ type: "text", text: value }));
  const components = [
    ...(choice.header_parameters?.length
      ? [{ type: "header", parameters: text(choice.header_parameters) }]
      : []),
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
