-- Projects own every other row; API keys authenticate a project; inbox embeds are the seed resource.
-- clock_timestamp() rather than now(): rows created in one transaction still get distinct, ordered times.

CREATE TABLE projects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- The first characters of the key, kept to find it and to show it in lists; the rest is only hashed.
  prefix text NOT NULL,
  key_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);
CREATE INDEX api_keys_project_idx ON api_keys (project_id, created_at DESC);

CREATE TABLE inbox_embeds (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text,
  scope_type text NOT NULL CHECK (scope_type IN ('project', 'customer', 'phone_number')),
  scope_id text,
  assigned_user_id uuid,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  allowed_origins text[] NOT NULL DEFAULT '{}',
  default_mode text NOT NULL DEFAULT 'system' CHECK (default_mode IN ('system', 'light', 'dark')),
  language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es')),
  expires_at timestamptz,
  last_used_at timestamptz,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((scope_type = 'project') = (scope_id IS NULL))
);
CREATE INDEX inbox_embeds_project_idx ON inbox_embeds (project_id, created_at DESC, id DESC);
