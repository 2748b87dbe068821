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

const sandboxSecrets = new WeakMap<Queryable, Promise<string>>();

/**
 * The secret with which the sandbox signs the webhooks it posts to Parley's receiver, standing
 * in for a Meta app secret. Kept in the database so every process signs and verifies alike;
 * the receiver accepts it only for sandbox numbers. Never changed once created, so each
 * database handle reads it once (every status webhook is signed and verified with it).
 */
export function sandboxAppSecret(db: Queryable): Promise<string> {
  let secret = sandboxSecrets.get(db);
  if (!secret) {
    secret = getOrCreateSetting(db, "sandbox_app_secret", () => randomBytes(32).toString("hex"));
    secret.catch(() => sandboxSecrets.delete(db));
    sandboxSecrets.set(db, secret);
  }
  return secret;
}
