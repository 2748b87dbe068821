import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.ts";
import { HttpError } from "../http/errors.ts";
import { originAllowed } from "../modules/inbox-embeds/origins.ts";
import {
  findInboxEmbedByTokenHash,
  type InboxEmbedRow,
  touchInboxEmbed,
} from "../modules/inbox-embeds/store.ts";
import { hashSecret } from "../security/secrets.ts";

/** The active, unexpired embed of `token`, or undefined (unknown, revoked and expired alike). */
export async function lookupEmbed(
  ctx: AppContext,
  token: string | undefined,
): Promise<InboxEmbedRow | undefined> {
  if (!token || token.length > 200) return undefined;
  const embed = await findInboxEmbedByTokenHash(ctx.db, hashSecret(token));
  if (embed?.status !== "active") return undefined;
  if (embed.expires_at && Date.parse(embed.expires_at) <= Date.now()) return undefined;
  await touchInboxEmbed(ctx.db, embed.id);
  return embed;
}

/** `frame-ancestors` for the embed page: the allowed origins, or any when the list is empty. */
export function frameAncestors(embed: InboxEmbedRow): string {
  return embed.allowed_origins.length ? embed.allowed_origins.join(" ") : "*";
}

/** The token of an embed API request: `Authorization: Bearer <token>`, else `?token=`. */
export function requestToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith("Bearer ") ? header.slice(7) : (request.query as { token?: string }).token;
}

/**
 * The embed API's authentication: `Authorization: Bearer <token>` (or `?token=` for the
 * WebSocket, which browsers open without headers), and — when the embed lists allowed origins — a
 * browser `Origin` among them, answered with CORS headers for that origin only.
 */
export async function authenticateEmbedRequest(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<InboxEmbedRow> {
  const embed = await lookupEmbed(ctx, requestToken(request));
  if (!embed) throw new HttpError(401, "Inbox embed token is invalid, revoked or expired");
  const origin = request.headers.origin;
  // The inbox page's own calls come from Parley's origin (PUBLIC_URL, or the host it was reached on).
  const own = [new URL(ctx.config.publicUrl).origin, `${request.protocol}://${request.host}`];
  if (origin && !own.includes(origin) && !originAllowed(embed.allowed_origins, origin)) {
    throw new HttpError(403, `Origin ${origin} is not allowed for this inbox embed`);
  }
  if (origin) reply.header("Access-Control-Allow-Origin", origin).header("Vary", "Origin");
  return embed;
}
