import { createHash } from "node:crypto";
import fs from "node:fs";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkOutboundUrl, guardedLookup, OutboundRefusedError } from "../../security/outbound.ts";

// Fetching a media ingest's `source` on a user's behalf: http(s) only, every hop (the URL and
// each redirect) checked against private, loopback, link-local and metadata addresses, and the
// check applied again to the address the socket connects to. The body is streamed to a file,
// hashed and counted on the way, and the download stops as soon as it crosses the limit.

const MAX_REDIRECTS = 5;

/** Why a source could not be used; `kind` picks the status. */
export class SourceError extends Error {
  readonly kind: "refused" | "unreachable" | "too_large";
  /** For `too_large`: the declared size, when the server declared one. */
  readonly declaredBytes: number | undefined;

  constructor(kind: SourceError["kind"], message: string, declaredBytes?: number) {
    super(message);
    this.name = "SourceError";
    this.kind = kind;
    this.declaredBytes = declaredBytes;
  }
}

/** An answered source: its headers, and a way to save the body under a size limit. */
export interface OpenedSource {
  /** Where the body comes from after redirects. */
  url: URL;
  contentType: string | undefined;
  /** From `Content-Disposition`, when the server names the file. */
  filename: string | undefined;
  contentLength: number | undefined;
  /** Streams the body to `file`; throws `SourceError("too_large")` past `limit` bytes. */
  saveTo(file: string, limit: number): Promise<{ size: number; sha256: string }>;
  /** Drops the response without reading it. */
  discard(): void;
}

function get(url: URL, allowlist: string[], signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "GET",
      headers: { accept: "*/*", "user-agent": "Parley-Media-Ingest/1.0" },
      lookup: guardedLookup(allowlist),
      signal,
    });
    request.on("response", resolve);
    request.on("error", reject);
    request.end();
  });
}

/** `attachment; filename="a.pdf"` (or RFC 5987 `filename*=UTF-8''a.pdf`) → `a.pdf`. */
function dispositionFilename(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*[^']*'[^']*'([^;]+)/i.exec(header)?.[1];
  if (extended) {
    try {
      return decodeURIComponent(extended.trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  return /filename\s*=\s*"?([^";]+)"?/i.exec(header)?.[1]?.trim();
}

function failure(err: unknown, signal: AbortSignal, timeoutSeconds: number): SourceError {
  if (err instanceof SourceError) return err;
  if (err instanceof OutboundRefusedError) {
    return err.reason === "private"
      ? new SourceError("refused", err.message)
      : new SourceError(
          "unreachable",
          err.reason === "scheme" ? "it redirects to a URL that is not http or https" : err.message,
        );
  }
  if (signal.aborted) {
    return new SourceError("unreachable", `the download took longer than ${timeoutSeconds} seconds`);
  }
  const code = (err as { code?: string }).code;
  return new SourceError(
    "unreachable",
    code ? `the server could not be reached (${code})` : "the download failed",
  );
}

/**
 * Opens `source` (following up to 5 redirects, each checked) and answers its headers; the body
 * is read only by `saveTo`. `timeoutSeconds` bounds the whole download, body included.
 */
export async function openSource(
  source: string,
  allowlist: string[],
  timeoutSeconds: number,
): Promise<OpenedSource> {
  const signal = AbortSignal.timeout(timeoutSeconds * 1000);
  let url: URL;
  try {
    url = await checkOutboundUrl(source, allowlist);
  } catch (err) {
    throw failure(err, signal, timeoutSeconds);
  }
  let response: IncomingMessage;
  for (let hop = 0; ; hop++) {
    try {
      response = await get(url, allowlist, signal);
    } catch (err) {
      throw failure(err, signal, timeoutSeconds);
    }
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (hop >= MAX_REDIRECTS) throw new SourceError("unreachable", "the server redirected too many times");
      try {
        url = await checkOutboundUrl(new URL(response.headers.location, url).toString(), allowlist);
      } catch (err) {
        throw failure(err, signal, timeoutSeconds);
      }
      continue;
    }
    if (status < 200 || status >= 300) {
      response.resume();
      throw new SourceError("unreachable", `the server answered ${status}`);
    }
    break;
  }
  const declared = Number(response.headers["content-length"]);
  const body = response;
  // Until `saveTo` pipes it, an abort (the timeout) must not surface as an unhandled error.
  body.on("error", () => {});
  return {
    url,
    contentType: body.headers["content-type"],
    filename: dispositionFilename(body.headers["content-disposition"]),
    contentLength: Number.isFinite(declared) && declared >= 0 ? declared : undefined,
    discard: () => body.destroy(),
    async saveTo(file, limit) {
      const hash = createHash("sha256");
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > limit) return done(new SourceError("too_large", `more than ${limit} bytes`));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      try {
        await pipeline(body, meter, fs.createWriteStream(file), { signal });
      } catch (err) {
        body.destroy();
        throw failure(err, signal, timeoutSeconds);
      }
      return { size, sha256: hash.digest("hex") };
    },
  };
}

/** A safe file name: the last path segment, without control characters, at most 255 characters. */
export function cleanFilename(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const base = path.posix.basename(name.replace(/\\/g, "/"));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return clean && clean !== "." && clean !== ".." ? clean.slice(0, 255) : undefined;
}
