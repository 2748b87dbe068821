// Meta's list of the media WhatsApp accepts, with the size limit of each type. One list, used
// by media ingest (`POST /platform/v1/whatsapp/media`) and by the sandbox standing in for Meta.

const MB = 1024 * 1024;

/** Supported MIME type → largest file Meta accepts, in bytes. */
export const MEDIA_LIMITS: Readonly<Record<string, number>> = {
  "audio/aac": 16 * MB,
  "audio/amr": 16 * MB,
  "audio/mpeg": 16 * MB,
  "audio/mp4": 16 * MB,
  "audio/ogg": 16 * MB,
  "text/plain": 100 * MB,
  "application/pdf": 100 * MB,
  "application/msword": 100 * MB,
  "application/vnd.ms-excel": 100 * MB,
  "application/vnd.ms-powerpoint": 100 * MB,
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
  "image/jpeg": 5 * MB,
  "image/png": 5 * MB,
  "image/webp": 5 * MB,
  "video/mp4": 16 * MB,
  "video/3gpp": 16 * MB,
};

/** Largest media file accepted at all (documents), in bytes. */
export const MAX_MEDIA_BYTES = 100 * MB;

/** The types Meta's Resumable Upload API takes (`file_type` of `POST /{app_id}/uploads`). */
export const RESUMABLE_UPLOAD_TYPES: readonly string[] = [
  "application/pdf",
  "image/jpeg",
  "image/png",
  "video/mp4",
];

const EXTENSIONS: Readonly<Record<string, string>> = {
  aac: "audio/aac",
  amr: "audio/amr",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  txt: "text/plain",
  pdf: "application/pdf",
  doc: "application/msword",
  xls: "application/vnd.ms-excel",
  ppt: "application/vnd.ms-powerpoint",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  mp4: "video/mp4",
  "3gp": "video/3gpp",
};

/** `image/PNG; charset=x` → `image/png`. */
export function normalizeMimeType(value: string): string {
  return value.split(";")[0]!.trim().toLowerCase();
}

/** The MIME type a file name's extension stands for, if it is one of Meta's types. */
export function mimeTypeFromName(name: string): string | undefined {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  return ext ? EXTENSIONS[ext] : undefined;
}
