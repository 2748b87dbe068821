-- The sandbox's stand-in for Meta's Resumable Upload API: `POST /{app_id}/uploads` opens a
-- session, `POST /upload:{id}` (header `file_offset`) appends bytes, and the finished file is
-- answered with a handle `h` (template header examples, profile pictures).
CREATE TABLE sandbox_uploads (
  id text PRIMARY KEY,
  app_id text NOT NULL,
  file_name text NOT NULL,
  file_length bigint NOT NULL,
  file_type text NOT NULL,
  data bytea NOT NULL DEFAULT ''::bytea,
  handle text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
