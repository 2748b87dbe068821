import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new random secret such as `prk_3kfJ9d…`: `bytes` of entropy, Base64url, with a readable prefix. */
export function newSecret(prefix: string, bytes = 32): string {
  return `${prefix}_${randomBytes(bytes).toString("base64url")}`;
}

/** The stored form of a secret: SHA-256, hex. Secrets are never stored or logged in the clear. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Compares two hex digests in constant time. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && timingSafeEqual(left, right);
}
