-- Broadcasts: template campaigns sent to many recipients by a leased runner (pg-boss jobs).

CREATE TABLE broadcasts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  name text NOT NULL,
  status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'scheduled', 'copying', 'sending', 'stopped', 'completed', 'failed')),
  -- The template as Meta described it when the broadcast was created (refreshed on send).
  template jsonb NOT NULL,
  -- True when the number is a sandbox number: the broadcast is served by the built-in sandbox.
  sandbox boolean NOT NULL DEFAULT false,
  scheduled_at timestamptz,
  started_at timestamptz,
  stopped_at timestamptz,
  completed_at timestamptz,
  -- Why the broadcast failed (Meta's error), when it did.
  error jsonb,
  -- The runner that currently sends it, and until when its lease holds.
  runner_id text,
  lease_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX broadcasts_project_idx ON broadcasts (project_id, created_at DESC, id DESC);
CREATE INDEX broadcasts_sending_idx ON broadcasts (status) WHERE status IN ('sending', 'scheduled');

CREATE TABLE broadcast_recipients (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  broadcast_id uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
  -- Send order: the order recipients were added in.
  position bigint GENERATED ALWAYS AS IDENTITY,
  -- E.164 digits without "+".
  phone_number text NOT NULL,
  contact_id uuid REFERENCES contacts (id) ON DELETE SET NULL,
  components jsonb NOT NULL DEFAULT '[]',
  -- `sending` is internal (shown as `pending`): claimed by a runner, outcome not yet recorded.
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
  -- Send attempts; attempt n uses the idempotency key broadcast:{id}:{n} on the send path.
  attempts integer NOT NULL DEFAULT 0,
  -- Throttled recipients wait until then before they are claimed again.
  retry_at timestamptz,
  runner_id text,
  claimed_at timestamptz,
  message_id uuid REFERENCES messages (id) ON DELETE SET NULL,
  wamid text,
  sent_at timestamptz,
  failed_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  responded_at timestamptz,
  error_message text,
  error_details jsonb,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (broadcast_id, phone_number)
);
CREATE INDEX broadcast_recipients_queue_idx ON broadcast_recipients (broadcast_id, status, position);
CREATE INDEX broadcast_recipients_reply_idx ON broadcast_recipients (phone_number, sent_at DESC)
  WHERE sent_at IS NOT NULL AND responded_at IS NULL;
