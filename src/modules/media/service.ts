import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AppContext } from "../../context.ts";
import { badRequest, forbidden, HttpError, notFound, unprocessable } from "../../http/errors.ts";
import { GraphApiError, type GraphResponse } from "../../whatsapp/graph-client.ts";
import {
  MEDIA_LIMITS,
  mimeTypeFromName,
  normalizeMimeType,
  RESUMABLE_UPLOAD_TYPES,
} from "../../whatsapp/media-types.ts";
import { graphTargetFor } from "../../whatsapp/targets.ts";
import {
  findLivePhoneNumberByRef,
  findProjectPhoneNumber,
  type PhoneNumberRow,
} from "../phone-numbers/store.ts";
import type { MediaIngestInput } from "./schemas.ts";
import { cleanFilename, openSource, SourceError } from "./source.ts";
import { recordUpload } from "./store.ts";
import { checkMediaDownload, isMediaId, mediaDownloadUrl } from "./urls.ts";

// WhatsApp media through Parley: uploads to Meta (or the sandbox) from the Meta proxy and from
// media ingest, metadata whose `url` is a signed Parley download URL, and the download itself,
// streamed from Meta with the number's token so that no client ever needs that token.

/** The app a sandbox number's resumable uploads are opened on (the sandbox takes any id). */
const SANDBOX_APP_ID = "sandbox-app";

/** Runs `fn` with a fresh private directory for temporary files, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "parley-media-"));
  try {
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** A file on disk to upload; its bytes are read from disk when sent (and again on a retry). */
export interface UploadFile {
  path: string;
  filename?: string;
  /** The part's own content type; Meta goes by the `type` field. */
  contentType: string;
}

/**
 * `POST /{phone_number_id}/media` to Meta (or the sandbox) with the number's credentials:
 * Meta's multipart fields, then the file. Answers Meta's body (`{id}`); throws `GraphApiError`.
 */
export async function uploadToMeta(
  ctx: AppContext,
  number: PhoneNumberRow,
  fields: Record<string, string>,
  file: UploadFile,
): Promise<{ id?: string } & Record<string, unknown>> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  const blob = await fs.openAsBlob(file.path, { type: file.contentType });
  if (file.filename) form.set("file", blob, file.filename);
  else form.set("file", blob);
  const answer = await ctx.graph.request<{ id?: string } & Record<string, unknown>>(
    graphTargetFor(ctx, number),
    {
      method: "POST",
      path: `/${number.phone_number_id}/media`,
      form,
      // A multipart upload may take a while; large documents are up to 100 MB.
      timeoutMs: 120_000,
    },
  );
  if (isMediaId(answer.id)) {
    // Meta answers with a bare id: keep what the file was, for `kapso.media_data` of its sends.
    await recordUpload(ctx.db, number.id, answer.id, {
      filename: file.filename ?? null,
      mimeType: normalizeMimeType(fields.type || file.contentType),
      byteSize: blob.size,
    });
  }
  return answer;
}

/**
 * Media metadata from Meta, checked against the number (Meta's `phone_number_id` parameter),
 * with `url` replaced by a signed Parley download URL. Throws `GraphApiError`.
 */
export async function getMediaMetadata(ctx: AppContext, number: PhoneNumberRow, mediaId: string) {
  const metadata = await ctx.graph.request<Record<string, unknown>>(graphTargetFor(ctx, number), {
    path: `/${mediaId}`,
    query: { phone_number_id: number.phone_number_id },
  });
  return { ...metadata, url: mediaDownloadUrl(ctx, number.id, mediaId).url };
}

/** Deletes media on Meta (checked against the number). Throws `GraphApiError`. */
export async function deleteMedia(ctx: AppContext, number: PhoneNumberRow, mediaId: string) {
  return ctx.graph.request<Record<string, unknown>>(graphTargetFor(ctx, number), {
    method: "DELETE",
    path: `/${mediaId}`,
    query: { phone_number_id: number.phone_number_id },
  });
}

/** Meta's answer for an id it does not have (deleted, expired, or another number's). */
const isUnknownMedia = (err: GraphApiError) =>
  err.status >= 400 && err.status < 500 && err.error.code === 100;

/**
 * Opens the bytes behind a signed download URL: checks the signature and expiry (403), the
 * number (404 once disconnected), asks Meta for the file's short-lived URL and fetches it with
 * the number's token. The caller streams `response.body`.
 */
export async function openMediaDownload(
  ctx: AppContext,
  numberRef: string,
  mediaId: string,
  query: { expires?: string; signature?: string },
): Promise<{ response: GraphResponse; expiresAt: Date }> {
  const check = checkMediaDownload(ctx, numberRef, mediaId, query.expires, query.signature);
  if (!check.ok) {
    throw forbidden(
      check.reason === "expired" ? "This media URL has expired" : "This media URL's signature is not valid",
    );
  }
  const number = isMediaId(mediaId) ? await findLivePhoneNumberByRef(ctx.db, numberRef) : undefined;
  if (!number) throw notFound("Media");
  const target = graphTargetFor(ctx, number);
  try {
    const metadata = await ctx.graph.request<{ url?: unknown }>(target, {
      path: `/${mediaId}`,
      query: { phone_number_id: number.phone_number_id },
    });
    if (typeof metadata.url !== "string" || !URL.canParse(metadata.url)) {
      throw new HttpError(502, "Meta API error: the media has no download URL");
    }
    return { response: await ctx.graph.download(target, metadata.url), expiresAt: check.expiresAt };
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    if (isUnknownMedia(err)) throw notFound("Media");
    throw new HttpError(502, `Meta API error: ${err.error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Media ingest (`POST /platform/v1/whatsapp/media`)
// ---------------------------------------------------------------------------------------------

/** Content types that say nothing about the file, so the file name decides. */
const GENERIC_TYPES = new Set(["application/octet-stream", "binary/octet-stream", "application/binary", ""]);

/** `image/jpg` is a common misspelling of Meta's `image/jpeg`. */
const canonicalMime = (value: string) => {
  const mime = normalizeMimeType(value);
  return mime === "image/jpg" ? "image/jpeg" : mime;
};

function checkMime(mime: string, delivery: MediaIngestInput["delivery"]): number {
  const limit = MEDIA_LIMITS[mime];
  if (!limit) throw badRequest(`Invalid MIME type: ${mime} not supported by Meta`);
  if (delivery === "meta_resumable_asset" && !RESUMABLE_UPLOAD_TYPES.includes(mime)) {
    throw badRequest(
      `Invalid MIME type: ${mime} not supported by Meta resumable uploads (use ${RESUMABLE_UPLOAD_TYPES.join(", ")})`,
    );
  }
  return limit;
}

const tooLarge = (size: number | undefined, limit: number, mime: string) =>
  new HttpError(
    413,
    size === undefined
      ? `File size exceeds limit of ${limit} bytes for ${mime}`
      : `File size ${size} bytes exceeds limit of ${limit} bytes for ${mime}`,
  );

/** A failed Meta call as the spec answers it: 429 with the wait, else 502 with Meta's message. */
export function metaFailure(err: GraphApiError): HttpError {
  if (err.status === 429) {
    const wait = err.retryAfterSeconds ?? 60;
    return new HttpError(429, `Meta API rate limit exceeded. Retry after ${wait} seconds`, {
      headers: { "retry-after": String(wait) },
    });
  }
  return new HttpError(502, `Meta API error: ${err.error.message}`);
}

/** Meta's Resumable Upload API: open a session on the app, send the bytes, get the handle. */
async function resumableUpload(
  ctx: AppContext,
  number: PhoneNumberRow,
  file: { path: string; filename: string; mimeType: string; size: number },
): Promise<string> {
  const appId = number.kind === "sandbox" ? SANDBOX_APP_ID : ctx.config.meta.appId;
  if (!appId) {
    throw unprocessable(
      "media_ingest.delivery meta_resumable_asset needs META_APP_ID, the Meta app that uploads are opened on",
    );
  }
  const target = graphTargetFor(ctx, number);
  const session = await ctx.graph.request<{ id?: string }>(target, {
    method: "POST",
    path: `/${appId}/uploads`,
    query: { file_name: file.filename, file_length: file.size, file_type: file.mimeType },
  });
  if (typeof session.id !== "string" || !session.id.startsWith("upload:")) {
    throw new HttpError(502, "Meta API error: no upload session was opened");
  }
  const uploaded = await ctx.graph.request<{ h?: string }>(target, {
    method: "POST",
    path: `/${session.id}`,
    bytes: await fs.openAsBlob(file.path),
    headers: { file_offset: "0" },
    authScheme: "OAuth",
    timeoutMs: 120_000,
  });
  if (typeof uploaded.h !== "string")
    throw new HttpError(502, "Meta API error: the upload returned no handle");
  return uploaded.h;
}

/**
 * Fetches `source` (SSRF-guarded, streamed under the type's size limit, hashed), then uploads
 * it to the number's Meta (or sandbox) media endpoint, or through the resumable upload API.
 */
export async function ingestMedia(ctx: AppContext, projectId: string, input: MediaIngestInput) {
  const delivery = input.delivery ?? "meta_media";
  if (!URL.canParse(input.source) || !/^https?:$/.test(new URL(input.source).protocol)) {
    throw badRequest("Source URL must be a valid HTTP or HTTPS URL");
  }
  const number = await findProjectPhoneNumber(ctx.db, projectId, input.phone_number_id);
  if (!number) throw new HttpError(404, "WhatsApp phone number not found or not accessible in this project");
  const hinted = input.mime_type ? canonicalMime(input.mime_type) : undefined;
  if (hinted) checkMime(hinted, delivery);

  let opened: Awaited<ReturnType<typeof openSource>>;
  try {
    opened = await openSource(
      input.source,
      ctx.config.outboundAllowlist,
      ctx.config.mediaFetchTimeoutSeconds,
    );
  } catch (err) {
    throw sourceFailure(ctx, err);
  }
  const filename =
    cleanFilename(input.filename) ??
    cleanFilename(opened.filename) ??
    cleanFilename(decodeURIComponent(opened.url.pathname)) ??
    "file";
  const served = opened.contentType ? canonicalMime(opened.contentType) : "";
  const mime =
    hinted ??
    (GENERIC_TYPES.has(served)
      ? (mimeTypeFromName(filename) ?? (served || "application/octet-stream"))
      : served);
  let limit: number;
  try {
    limit = checkMime(mime, delivery);
    if (opened.contentLength !== undefined && opened.contentLength > limit) {
      throw tooLarge(opened.contentLength, limit, mime);
    }
  } catch (err) {
    opened.discard();
    throw err;
  }

  return withTempDir(async (dir) => {
    const file = path.join(dir, "source");
    let saved: { size: number; sha256: string };
    try {
      saved = await opened.saveTo(file, limit);
    } catch (err) {
      if (err instanceof SourceError && err.kind === "too_large") throw tooLarge(undefined, limit, mime);
      throw sourceFailure(ctx, err);
    }
    if (saved.size === 0) throw unprocessable("media_ingest.source is an empty file");
    const ingestId = randomUUID();
    let target: { kind: typeof delivery; media_id?: string; handle?: string };
    try {
      if (delivery === "meta_media") {
        const answer = await uploadToMeta(
          ctx,
          number,
          { messaging_product: "whatsapp", type: mime },
          { path: file, filename, contentType: mime },
        );
        if (typeof answer.id !== "string")
          throw new HttpError(502, "Meta API error: the upload returned no id");
        target = { kind: delivery, media_id: answer.id };
      } else {
        const handle = await resumableUpload(ctx, number, {
          path: file,
          filename,
          mimeType: mime,
          size: saved.size,
        });
        target = { kind: delivery, handle };
      }
    } catch (err) {
      throw err instanceof GraphApiError ? metaFailure(err) : err;
    }
    ctx.log.info(
      {
        ingest_id: ingestId,
        phone_number_id: number.phone_number_id,
        delivery,
        mime_type: mime,
        size: saved.size,
      },
      "media ingested",
    );
    return {
      ingest_id: ingestId,
      target,
      resource: {
        filename,
        mime_type: mime,
        size_bytes: saved.size,
        sha256: saved.sha256,
        source_url: input.source,
      },
    };
  });
}

function sourceFailure(ctx: AppContext, err: unknown): unknown {
  if (!(err instanceof SourceError)) return err;
  if (err.kind === "refused") {
    // The spec's exact sentence; which address was refused goes to the log.
    ctx.log.info({ reason: err.message }, "media ingest source refused");
    return forbidden("Cannot fetch from private IP addresses or localhost");
  }
  return unprocessable(`media_ingest.source could not be fetched: ${err.message}`);
}
