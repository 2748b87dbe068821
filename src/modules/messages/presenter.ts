import type { MessageRow } from "./store.ts";

const MEDIA_TYPES = new Set(["image", "audio", "video", "document", "sticker"]);

/**
 * A stored message as Meta's message object plus Kapso's `kapso` extension (the v2 webhook
 * `message`, the proxy's history items, the embedded inbox). `mediaUrl` gives a media
 * message's `kapso.media_url` (`messageMediaUrl(ctx)`: a signed Parley download URL).
 */
export function presentMessage(row: MessageRow, mediaUrl: (row: MessageRow) => string | null) {
  const hasMedia = MEDIA_TYPES.has(row.type);
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
      media_url: hasMedia ? mediaUrl(row) : null,
    },
  };
}

export type PresentedMessage = ReturnType<typeof presentMessage>;
