import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../../test/support/app.ts";
import { createCipher, resolveEncryptionKey } from "./encryption.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

describe("encryption at rest", () => {
  it("round-trips, never repeats a ciphertext, and detects tampering", () => {
    const cipher = createCipher(randomBytes(32));
    const sealed = cipher.encrypt("EAAB-secret-token");
    assert.ok(!sealed.includes("EAAB"));
    assert.notEqual(cipher.encrypt("EAAB-secret-token"), sealed, "a fresh IV each time");
    assert.equal(cipher.decrypt(sealed), "EAAB-secret-token");
    const parts = sealed.split(".");
    parts[3] = Buffer.from("forged").toString("base64url");
    assert.throws(() => cipher.decrypt(parts.join(".")));
    assert.throws(() => createCipher(randomBytes(32)).decrypt(sealed), "another key cannot read it");
  });

  it("signs with a key derived per purpose: stable, and worthless for another purpose or key", () => {
    const key = randomBytes(32);
    const cipher = createCipher(key);
    const mac = cipher.mac("media-download", "a\nb\n1");
    assert.equal(mac.length, 32);
    assert.deepEqual(createCipher(key).mac("media-download", "a\nb\n1"), mac, "same key, same signature");
    assert.notDeepEqual(cipher.mac("other-purpose", "a\nb\n1"), mac);
    assert.notDeepEqual(cipher.mac("media-download", "a\nb\n2"), mac);
    assert.notDeepEqual(createCipher(randomBytes(32)).mac("media-download", "a\nb\n1"), mac);
  });

  it("uses the configured key, or one development key shared through the database", async () => {
    const configured = randomBytes(32);
    assert.equal(
      await resolveEncryptionKey({ ...t.config, encryptionKey: configured }, t.ctx.db, t.ctx.log),
      configured,
    );
    const first = await resolveEncryptionKey(t.config, t.ctx.db, t.ctx.log);
    const second = await resolveEncryptionKey(t.config, t.ctx.db, t.ctx.log);
    assert.equal(first.length, 32);
    assert.deepEqual(first, second, "every process reads the same generated key");
  });
});
