import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Queryable } from "../db/database.ts";
import { getOrCreateSetting } from "../db/settings.ts";

/** Meta's `X-Hub-Signature-256` value for a raw body: `sha256=<hex HMAC-SHA256>`. */
export function signMetaPayload(appSecret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
}

/** Checks an `X-Hub-Signature-256` header against the raw body, in constant time. */
export function verifyMetaSignature(
  appSecret: string,
  rawBody: string | Buffer,
  header: string | undefined,
): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const expected = Buffer.from(signMetaPayload(appSecret, rawBody));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * The secret with which the sandbox signs the webhooks it posts to Parley's receiver, standing
 * in for a Meta app secret. Kept in the database so every process signs and verifies alike;
 * the receiver accepts it only for sandbox numbers.
 */
export function sandboxAppSecret(db: Queryable): Promise<string> {
  return getOrCreateSetting(db, "sandbox_app_secret", () => randomBytes(32).toString("hex"));
}
