-- What Parley knows of a file it uploaded to a number's media (Meta proxy, media ingest,
-- embedded inbox): Meta answers an upload with a bare id, so the file's name, type and size
-- are kept here, and a message sent with that id copies them into `messages.media`
-- (`kapso.media_data`).
CREATE TABLE media_uploads (
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  media_id text NOT NULL,
  filename text,
  mime_type text NOT NULL,
  byte_size bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (phone_number_ref, media_id)
);
