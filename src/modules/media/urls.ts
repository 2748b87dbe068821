import { timingSafeEqual } from "node:crypto";
import type { AppContext } from "../../context.ts";
import type { MessageRow } from "../messages/store.ts";

// Signed, expiring download URLs for WhatsApp media: `PUBLIC_URL/media/{number}/{media_id}?
// expires=&signature=`. The signature is an HMAC (key derived from PARLEY_ENCRYPTION_KEY) over
// the Parley number, the media id and the expiry, so the URL works without any header — in an
// <img>, or from a client that only sends its key to kapso.ai hosts — for that one file, until
// it expires, and only while the number is connected.

const PURPOSE = "media-download";

/** Meta's media ids are digit strings; anything else is never put into a Graph path. */
export const isMediaId = (value: unknown): value is string =>
  typeof value === "string" && /^\d{1,40}$/.test(value);

function signature(ctx: AppContext, numberRef: string, mediaId: string, expires: number): string {
  return ctx.cipher.mac(PURPOSE, `${numberRef}\n${mediaId}\n${expires}`).toString("base64url");
}

/** A download URL for `mediaId` of the Parley number `numberRef`, valid for the configured TTL. */
export function mediaDownloadUrl(
  ctx: AppContext,
  numberRef: string,
  mediaId: string,
  now = Date.now(),
): { url: string; expiresAt: Date } {
  const expires = Math.floor(now / 1000) + ctx.config.mediaUrlTtlSeconds;
  const url = new URL(`${ctx.config.publicUrl}/media/${numberRef}/${mediaId}`);
  url.searchParams.set("expires", String(expires));
  url.searchParams.set("signature", signature(ctx, numberRef, mediaId, expires));
  return { url: url.toString(), expiresAt: new Date(expires * 1000) };
}

export type MediaUrlCheck = { ok: true; expiresAt: Date } | { ok: false; reason: "invalid" | "expired" };

/** Checks a download URL's `expires` and `signature` (a tampered expiry is `invalid`). */
export function checkMediaDownload(
  ctx: AppContext,
  numberRef: string,
  mediaId: string,
  expires: string | undefined,
  given: string | undefined,
  now = Date.now(),
): MediaUrlCheck {
  if (!expires || !/^\d{1,12}$/.test(expires) || !given) return { ok: false, reason: "invalid" };
  const expected = Buffer.from(signature(ctx, numberRef, mediaId, Number(expires)), "base64url");
  const actual = Buffer.from(given, "base64url");
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return { ok: false, reason: "invalid" };
  }
  if (Number(expires) * 1000 <= now) return { ok: false, reason: "expired" };
  return { ok: true, expiresAt: new Date(Number(expires) * 1000) };
}

/**
 * `kapso.media_url` of a stored message: a signed download URL when the message carries a
 * Meta media id (inbound media, and outbound media sent by id), else null (text, or media
 * sent by `link`, whose URL the message itself carries).
 */
export function messageMediaUrl(ctx: AppContext): (row: MessageRow) => string | null {
  return (row) => {
    const id = row.content?.id;
    return isMediaId(id) ? mediaDownloadUrl(ctx, row.phone_number_ref, id).url : null;
  };
}
