-- The external API request log (GET /platform/v1/api_logs): one row per Platform API or Meta
-- proxy request made with one of the project's keys. Written in batches by each process
-- (src/modules/api-logs/writer.ts); rows older than PARLEY_API_LOG_RETENTION_DAYS are deleted
-- by a scheduled job. The key's name is copied so the log needs no join and survives renames.
CREATE TABLE api_logs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  api_key_id uuid,
  api_key_name text,
  endpoint text NOT NULL,
  http_method text NOT NULL,
  response_status integer NOT NULL,
  response_time_ms double precision NOT NULL,
  ip_address text,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX api_logs_project_idx ON api_logs (project_id, created_at DESC, id DESC);
CREATE INDEX api_logs_created_idx ON api_logs (created_at);
