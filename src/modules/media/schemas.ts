import { type Static, Type } from "typebox";
import { Uuid } from "../../http/schemas.ts";

export const DELIVERIES = ["meta_media", "meta_resumable_asset"] as const;

/** `MediaIngestRequest` of the Kapso Platform API. */
export const MediaIngestBody = Type.Object({
  media_ingest: Type.Object({
    phone_number_id: Type.String({ minLength: 1, maxLength: 64, description: "Meta's phone number id" }),
    // Checked by the service, so that a bad URL gets the spec's 400 message.
    source: Type.String({ maxLength: 4096, description: "HTTP or HTTPS URL of the file" }),
    delivery: Type.Optional(
      Type.Enum(DELIVERIES, {
        default: "meta_media",
        description:
          "meta_media: Meta's media endpoint (a media id, 30 days); meta_resumable_asset: Meta's resumable upload (a handle, e.g. for template headers)",
      }),
    ),
    filename: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    mime_type: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  }),
});

export type MediaIngestInput = Static<typeof MediaIngestBody>["media_ingest"];

/** `MediaIngestResponse.data`. */
export const MediaIngest = Type.Object({
  ingest_id: Uuid,
  target: Type.Object({
    kind: Type.Enum(DELIVERIES),
    media_id: Type.Optional(Type.String()),
    handle: Type.Optional(Type.String()),
  }),
  resource: Type.Object({
    filename: Type.String(),
    mime_type: Type.String(),
    size_bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
    source_url: Type.String(),
  }),
});
