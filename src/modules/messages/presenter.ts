import type { MessageRow } from "./store.ts";

const MEDIA_TYPES = new Set(["image", "audio", "video", "document", "sticker"]);

/**
 * A stored message as Meta's message object plus Kapso's `kapso` extension (the v2 webhook
 * `message`, the proxy's history items, the embedded inbox). `mediaUrl` gives a media
 * message's `kapso.media_url` (`messageMediaUrl(ctx)`: a signed Parley download URL).
 */
export function presentMessage(row: MessageRow, mediaUrl: (row: MessageRow) => string | null) {
  const hasMedia = MEDIA_TYPES.has(row.type);
  const url = hasMedia ? mediaUrl(row) : null;
  return {
    id: row.wamid ?? row.id,
    timestamp: String(Math.floor(Date.parse(row.sent_at) / 1000)),
    type: row.type,
    [row.type]: row.content,
    ...(row.context ? { context: row.context } : {}),
    kapso: {
      direction: row.direction,
      status: row.status,
      processing_status: row.processing_status,
      origin: row.origin,
      has_media: hasMedia,
      content: row.text,
      ...(row.statuses.length ? { statuses: row.statuses } : {}),
      ...(row.error ? { error: row.error } : {}),
      media_url: url,
      ...(hasMedia ? { media_data: mediaData(row, url) } : {}),
    },
  };
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);

/**
 * `kapso.media_data` of a media message, from what Parley has: the signed download URL (or
 * the `link` a message was sent with), the file name and type Meta's message object carries,
 * and — for a file uploaded through Parley — the name, type and size recorded at upload.
 * What is not known is null (Meta does not tell a received file's size).
 */
function mediaData(row: MessageRow, url: string | null) {
  const uploaded = row.media ?? {};
  return {
    url: url ?? text(row.content.link),
    filename: text(row.content.filename) ?? text(uploaded.filename),
    content_type: text(row.content.mime_type) ?? text(uploaded.mime_type),
    byte_size: typeof uploaded.byte_size === "number" ? uploaded.byte_size : null,
  };
}

export type PresentedMessage = ReturnType<typeof presentMessage>;
