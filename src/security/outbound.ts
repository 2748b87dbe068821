import dns from "node:dns";
import { lookup } from "node:dns/promises";
import { BlockList, isIP, type LookupFunction } from "node:net";

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
  /** `scheme`: not http(s); `unresolvable`: the host has no address; `private`: a forbidden address. */
  readonly reason: "scheme" | "unresolvable" | "private";

  constructor(reason: OutboundRefusedError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Why `address` may not be reached, or undefined when it may (public, or allowlisted). */
function refusal(host: string, raw: string, rawFamily: number, allowlist: string[]): string | undefined {
  if (allowlist.includes(raw)) return undefined;
  // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw)?.[1];
  const address = mapped ?? raw;
  const type = mapped || rawFamily !== 6 ? "ipv4" : "ipv6";
  if (allowedSubnets(allowlist).check(address, type)) return undefined;
  if (FORBIDDEN.check(address, type)) {
    return `${host} resolves to a private or reserved address (${address})`;
  }
  return undefined;
}

/** `10.0.0.0/8`-style allowlist entries, as a BlockList (cached per list). */
const subnetCache = new WeakMap<string[], BlockList>();
function allowedSubnets(allowlist: string[]): BlockList {
  let list = subnetCache.get(allowlist);
  if (!list) {
    list = new BlockList();
    for (const entry of allowlist) {
      const [net, bits] = entry.split("/");
      const family = isIP(net ?? "");
      if (bits !== undefined && family && /^\d+$/.test(bits)) {
        list.addSubnet(net!, Number(bits), family === 6 ? "ipv6" : "ipv4");
      }
    }
    subnetCache.set(allowlist, list);
  }
  return list;
}

/**
 * Checks that `url` is http(s) and that every address its host resolves to is public, unless the
 * host (or one of its addresses, or a subnet holding it) is in `allowlist`
 * (`PARLEY_OUTBOUND_ALLOWLIST`, for local development). Throws `OutboundRefusedError` saying why.
 */
export async function checkOutboundUrl(url: string, allowlist: string[]): Promise<URL> {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new OutboundRefusedError("scheme", "only http and https URLs are allowed");
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (allowlist.includes(host)) return parsed;
  const addresses = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await lookup(host, { all: true }).catch(() => []);
  if (addresses.length === 0) throw new OutboundRefusedError("unresolvable", `${host} does not resolve`);
  for (const { address, family } of addresses) {
    const why = refusal(host, address, family, allowlist);
    if (why) throw new OutboundRefusedError("private", why);
  }
  return parsed;
}

/**
 * A `lookup` for `node:http`/`node:https` requests that applies the same rule to the addresses
 * the socket actually connects to, so a host cannot pass `checkOutboundUrl` and then resolve
 * to a private address for the request itself (DNS rebinding). IP literals never reach a
 * lookup: check the URL with `checkOutboundUrl` too.
 */
export function guardedLookup(allowlist: string[]): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const host = hostname.replace(/^\[|\]$/g, "");
      if (!allowlist.includes(host)) {
        for (const { address, family } of addresses) {
          const why = refusal(host, address, family, allowlist);
          if (why) return callback(new OutboundRefusedError("private", why), "", 0);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(new OutboundRefusedError("unresolvable", `${host} does not resolve`), "", 0);
      callback(null, first.address, first.family);
    });
  };
}
