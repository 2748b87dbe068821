/**
 * Allowed origins of an inbox embed.
 *
 * A pattern is a full origin: scheme, host and optional port (`https://app.example.com`,
 * `http://localhost:3000`), or a wildcard host whose leftmost label is `*`
 * (`https://*.example.com`). Rules:
 * - scheme and port must match exactly; no port means the scheme's default port;
 * - `*.` stands for one or more labels, so `https://*.example.com` matches
 *   `https://app.example.com` and `https://a.b.example.com` but not the apex
 *   `https://example.com` (list the apex separately if it should embed too);
 * - a wildcard must leave at least two labels (`*.com` is refused);
 * - patterns are stored lowercased, without a trailing slash.
 */

export type OriginCheck = { ok: true; origin: string } | { ok: false; reason: string };

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

export function normalizeOriginPattern(input: string): OriginCheck {
  const raw = input.trim();
  const wildcard = /^(https?):\/\/\*\./i.exec(raw);
  // URL() cannot parse a `*` label, so a wildcard is checked with a stand-in label.
  const candidate = wildcard ? raw.replace("*.", "wildcard-label.") : raw;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return { ok: false, reason: "is not an origin such as https://app.example.com" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, reason: "must use http or https" };
  }
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== "/" && url.pathname !== "")
  ) {
    return { ok: false, reason: "must be an origin only (scheme, host and port), without a path" };
  }
  if (raw.replace(/\/$/, "").split("/").length !== 3) {
    return { ok: false, reason: "must be an origin only (scheme, host and port), without a path" };
  }
  let host = url.hostname;
  if (host.includes("*")) {
    return { ok: false, reason: "may use * only as the whole leftmost label, as in https://*.example.com" };
  }
  if (wildcard) {
    host = host.replace(/^wildcard-label\./, "*.");
    if (host.split(".").length < 3) {
      return { ok: false, reason: "wildcard must leave at least two labels, as in https://*.example.com" };
    }
  }
  const port = url.port && url.port !== DEFAULT_PORTS[url.protocol] ? `:${url.port}` : "";
  return { ok: true, origin: `${url.protocol}//${host}${port}` };
}

/** Whether a request's `Origin` header value is allowed by one normalized pattern. */
export function originMatchesPattern(pattern: string, origin: string): boolean {
  const actual = normalizeOriginPattern(origin);
  if (!actual.ok || actual.origin.includes("*")) return false;
  if (!pattern.includes("*")) return pattern === actual.origin;
  const [scheme, rest] = pattern.split("//") as [string, string];
  const [actualScheme, actualRest] = actual.origin.split("//") as [string, string];
  if (scheme !== actualScheme) return false;
  const suffix = rest.slice(1); // ".example.com" or ".example.com:8443"
  const [suffixHost, suffixPort = ""] = suffix.split(":");
  const [actualHost, actualPort = ""] = actualRest.split(":") as [string, string?];
  return (
    suffixPort === actualPort && actualHost.endsWith(suffixHost!) && actualHost.length > suffixHost!.length
  );
}

/** An empty list allows every origin. */
export function originAllowed(patterns: readonly string[], origin: string | undefined): boolean {
  if (patterns.length === 0) return true;
  if (!origin) return false;
  return patterns.some((pattern) => originMatchesPattern(pattern, origin));
}
