import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config.ts";
import type { Queryable } from "../db/database.ts";
import { getOrCreateSetting } from "../db/settings.ts";

/**
 * Encrypts secrets at rest (Meta access tokens, verify tokens) with AES-256-GCM, and signs
 * what Parley hands out and must recognise later (signed media URLs) with HMAC-SHA256.
 */
export interface Cipher {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
  /**
   * HMAC-SHA256 of `data` under a key derived (HKDF-SHA256) from the encryption key for
   * `purpose`, so a signature made for one purpose is worthless for another.
   */
  mac(purpose: string, data: string): Buffer;
}

const VERSION = "v1";

export function createCipher(key: Buffer): Cipher {
  if (key.length !== 32) throw new Error("encryption key must be 32 bytes");
  const macKeys = new Map<string, Buffer>();
  const macKey = (purpose: string) => {
    let derived = macKeys.get(purpose);
    if (!derived) {
      derived = Buffer.from(hkdfSync("sha256", key, "parley", `mac:${purpose}`, 32));
      macKeys.set(purpose, derived);
    }
    return derived;
  };
  return {
    mac(purpose, data) {
      return createHmac("sha256", macKey(purpose)).update(data).digest();
    },
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return [
        VERSION,
        iv.toString("base64url"),
        cipher.getAuthTag().toString("base64url"),
        data.toString("base64url"),
      ].join(".");
    },
    decrypt(sealed) {
      const [version, iv, tag, data] = sealed.split(".");
      if (version !== VERSION || !iv || !tag || data === undefined) throw new Error("not a sealed secret");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString(
        "utf8",
      );
    },
  };
}

/**
 * The configured key, or — in development only, where `loadConfig` allows it to be missing —
 * a key generated once and kept in the settings table so every process shares it.
 */
export async function resolveEncryptionKey(
  config: Config,
  db: Queryable,
  log: FastifyBaseLogger,
): Promise<Buffer> {
  if (config.encryptionKey) return config.encryptionKey;
  log.info("PARLEY_ENCRYPTION_KEY is not set: using a development key stored in the database");
  const stored = await getOrCreateSetting(db, "development_encryption_key", () =>
    randomBytes(32).toString("base64"),
  );
  return Buffer.from(stored, "base64");
}
