import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.ts";
import { type AuthenticatedKey, authenticateApiKey } from "../modules/projects/service.ts";
import { unauthorized } from "./errors.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The project key that authenticated the request; set by `requireApiKey`. */
    auth: AuthenticatedKey;
  }
}

/** Reads the `X-API-Key` header (a repeated header counts as its first value). */
export function apiKeyFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const header = headers["x-api-key"];
  return Array.isArray(header) ? header[0] : header;
}

/**
 * The one API-key hook: every route registered in `scope` after this call requires a valid
 * project key; `request.auth` then names the project. Runs before the body is parsed.
 */
export function requireApiKey(
  scope: FastifyInstance,
  ctx: AppContext,
  onMissing: () => Error = () => unauthorized(),
): void {
  scope.addHook("onRequest", async (request) => {
    const key = apiKeyFromHeaders(request.headers);
    const found = key ? await authenticateApiKey(ctx.db, key) : undefined;
    if (!found) throw onMissing();
    request.auth = found;
  });
}
