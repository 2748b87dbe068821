import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeOriginPattern, originAllowed, originMatchesPattern } from "./origins.ts";

const normalized = (input: string) => {
  const check = normalizeOriginPattern(input);
  assert.ok(check.ok, `${input} should be accepted`);
  return check.origin;
};

describe("normalizeOriginPattern", () => {
  it("accepts origins and wildcard origins, normalized", () => {
    assert.equal(normalized("https://app.example.com"), "https://app.example.com");
    assert.equal(normalized("HTTPS://App.Example.COM/"), "https://app.example.com");
    assert.equal(normalized("http://localhost:3000"), "http://localhost:3000");
    assert.equal(normalized("https://example.com:443"), "https://example.com", "default port dropped");
    assert.equal(normalized("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    assert.equal(normalized("https://*.example.com"), "https://*.example.com");
    assert.equal(normalized("https://*.example.com:8443"), "https://*.example.com:8443");
  });

  it("refuses anything that is not an origin", () => {
    for (const bad of [
      "example.com",
      "https://",
      "ftp://example.com",
      "https://example.com/path",
      "https://example.com/.",
      "https://example.com?x=1",
      "https://example.com#frag",
      "https://user:pw@example.com",
      "https://*.com",
      "https://app.*.example.com",
      "*",
      "",
    ]) {
      assert.equal(normalizeOriginPattern(bad).ok, false, `${bad} should be refused`);
    }
  });
});

describe("originMatchesPattern", () => {
  it("matches exact origins on scheme, host and port", () => {
    assert.ok(originMatchesPattern("https://app.example.com", "https://app.example.com"));
    assert.ok(originMatchesPattern("https://app.example.com", "https://APP.example.com:443"));
    assert.ok(!originMatchesPattern("https://app.example.com", "http://app.example.com"));
    assert.ok(!originMatchesPattern("https://app.example.com", "https://app.example.com:8443"));
    assert.ok(!originMatchesPattern("https://app.example.com", "https://evil-app.example.com"));
    assert.ok(originMatchesPattern("http://localhost:3000", "http://localhost:3000"));
    assert.ok(!originMatchesPattern("http://localhost:3000", "http://localhost:3001"));
  });

  it("matches wildcards on any depth of subdomain, never the apex or a look-alike", () => {
    const p = "https://*.example.com";
    assert.ok(originMatchesPattern(p, "https://app.example.com"));
    assert.ok(originMatchesPattern(p, "https://a.b.example.com"));
    assert.ok(!originMatchesPattern(p, "https://example.com"), "apex is not matched");
    assert.ok(!originMatchesPattern(p, "https://badexample.com"));
    assert.ok(!originMatchesPattern(p, "https://example.com.evil.net"));
    assert.ok(!originMatchesPattern(p, "http://app.example.com"), "scheme must match");
    assert.ok(!originMatchesPattern(p, "https://app.example.com:8443"), "port must match");
    assert.ok(originMatchesPattern("https://*.example.com:8443", "https://app.example.com:8443"));
  });

  it("never matches a malformed or opaque Origin", () => {
    assert.ok(!originMatchesPattern("https://*.example.com", "null"));
    assert.ok(!originMatchesPattern("https://*.example.com", "https://*.example.com"));
    assert.ok(!originMatchesPattern("https://app.example.com", "https://app.example.com/path"));
  });
});

describe("originAllowed", () => {
  it("allows any origin when the list is empty, and only listed ones otherwise", () => {
    assert.ok(originAllowed([], "https://anything.test"));
    assert.ok(originAllowed([], undefined));
    assert.ok(originAllowed(["https://a.com", "https://*.b.com"], "https://x.b.com"));
    assert.ok(!originAllowed(["https://a.com"], "https://b.com"));
    assert.ok(
      !originAllowed(["https://a.com"], undefined),
      "a missing Origin is refused when origins are set",
    );
  });
});
