import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { Envelope, errorResponses } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { MediaIngest, MediaIngestBody } from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Media"];

/** `POST /platform/v1/whatsapp/media` (in the API-key scope). */
export function mediaRoutes(app: Server, ctx: AppContext): void {
  app.post(
    "/whatsapp/media",
    {
      schema: {
        tags,
        operationId: "uploadWhatsappMedia",
        summary: "Upload media",
        description:
          "Fetches `source` (HTTP/HTTPS; private, loopback, link-local and metadata addresses refused, also after DNS resolution and on each redirect), checks Meta's MIME allow-list and size limits (images 5 MB, audio/video 16 MB, documents 100 MB; 413 as soon as the limit is crossed), and uploads it to Meta (`meta_media`: a media id) or through Meta's resumable upload API (`meta_resumable_asset`: a handle). Sandbox numbers upload to the built-in sandbox.",
        body: MediaIngestBody,
        response: { 200: Envelope(MediaIngest), ...errorResponses(400, 403, 404, 413, 422, 429, 502) },
      },
    },
    async (request) =>
      envelope(await service.ingestMedia(ctx, request.auth.projectId, request.body.media_ingest)),
  );
}

/**
 * `GET /media/{number}/{media_id}?expires=&signature=`: the bytes behind a signed media URL
 * (`kapso.media_url`, the proxy's media `url`), streamed from Meta. No header needed.
 */
export function mediaDownloadRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/media/:number/:media_id",
    {
      schema: {
        hide: true,
        params: Type.Object({ number: Type.String(), media_id: Type.String() }),
        querystring: Type.Object({
          expires: Type.Optional(Type.String()),
          signature: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const { number, media_id: mediaId } = request.params;
      const { response, expiresAt } = await service.openMediaDownload(ctx, number, mediaId, request.query);
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
      reply
        .header("content-type", response.headers["content-type"] ?? "application/octet-stream")
        .header("cache-control", `private, max-age=${maxAge}`)
        .header("x-content-type-options", "nosniff")
        // Whatever a contact sent (an HTML "document"…) is never run in Parley's origin.
        .header("content-security-policy", "default-src 'none'; sandbox")
        .header("referrer-policy", "no-referrer");
      for (const name of ["content-length", "content-disposition"]) {
        const value = response.headers[name];
        if (value) reply.header(name, value);
      }
      return reply.send(response.body);
    },
  );
}
