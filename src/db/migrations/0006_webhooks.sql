-- Outgoing webhooks: subscriptions and their deliveries. A delivery row is written in the same
-- transaction as the event it carries (see publishEvents), so nothing committed goes unsent.
CREATE TABLE webhooks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  phone_number_ref uuid REFERENCES phone_numbers (id) ON DELETE CASCADE,
  url text NOT NULL,
  kind text NOT NULL DEFAULT 'kapso' CHECK (kind IN ('kapso', 'meta')),
  events text[] NOT NULL DEFAULT '{}',
  active boolean NOT NULL DEFAULT true,
  secret_key text NOT NULL,
  headers jsonb,
  buffer_enabled boolean NOT NULL DEFAULT false,
  buffer_window_seconds integer,
  max_buffer_size integer,
  buffer_events text[] NOT NULL DEFAULT '{}',
  inactivity_minutes integer,
  payload_version text NOT NULL DEFAULT 'v2',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhooks_project_idx ON webhooks (project_id, created_at DESC, id DESC);
CREATE INDEX webhooks_number_idx ON webhooks (phone_number_ref) WHERE active;

CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  webhook_id uuid REFERENCES webhooks (id) ON DELETE SET NULL,
  event text NOT NULL,
  payload jsonb NOT NULL,
  phone_number_ref uuid,
  conversation_id uuid,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempt_count integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  locked_until timestamptz,
  response_status integer,
  last_error text,
  delivered_at timestamptz,
  failed_at timestamptz,
  last_attempt_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_project_idx ON webhook_deliveries (project_id, created_at DESC, id DESC);
