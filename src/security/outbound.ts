import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/** Addresses a request on a user's behalf must never reach (SSRF): private, loopback, link-local, metadata… */
const FORBIDDEN = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  FORBIDDEN.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  FORBIDDEN.addSubnet(net, prefix, "ipv6");
}

export class OutboundRefusedError extends Error {
  override name = "OutboundRefusedError";
}

/**
 * Checks that `url` is http(s) and that every address its host resolves to is public, unless the
 * host (or one of its addresses) is in `allowlist` (`PARLEY_OUTBOUND_ALLOWLIST`, for local
 * development). Throws `OutboundRefusedError` saying why.
 */
export async function checkOutboundUrl(url: string, allowlist: string[]): Promise<URL> {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new OutboundRefusedError("only http and https URLs are allowed");
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (allowlist.includes(host)) return parsed;
  const addresses = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await lookup(host, { all: true }).catch(() => []);
  if (addresses.length === 0) throw new OutboundRefusedError(`${host} does not resolve`);
  for (const { address: raw, family: rawFamily } of addresses) {
    if (allowlist.includes(raw)) continue;
    // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is checked as the IPv4 address it is.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw)?.[1];
    const address = mapped ?? raw;
    const family = mapped ? 4 : rawFamily;
    if (FORBIDDEN.check(address, family === 6 ? "ipv6" : "ipv4")) {
      throw new OutboundRefusedError(`${host} resolves to a private or reserved address (${address})`);
    }
  }
  return parsed;
}
