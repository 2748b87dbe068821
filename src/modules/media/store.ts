import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";

/** Remembers a file uploaded to a number's media under Meta's id (a repeated id keeps the first). */
export async function recordUpload(
  db: Queryable,
  phoneNumberRef: string,
  mediaId: string,
  file: { filename: string | null; mimeType: string; byteSize: number },
): Promise<void> {
  await db.query(sql`
    INSERT INTO media_uploads (phone_number_ref, media_id, filename, mime_type, byte_size)
    VALUES (${phoneNumberRef}, ${mediaId}, ${file.filename}, ${file.mimeType}, ${file.byteSize})
    ON CONFLICT (phone_number_ref, media_id) DO NOTHING`);
}
