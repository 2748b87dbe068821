-- Inbound webhooks: statuses that arrive before the outbound message they describe has its
-- wamid recorded (Meta can be faster than our own commit), kept until the send records it.
CREATE TABLE pending_statuses (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  wamid text NOT NULL,
  status jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pending_statuses_wamid_idx ON pending_statuses (phone_number_ref, wamid);
CREATE INDEX pending_statuses_created_idx ON pending_statuses (created_at);

-- Contact search by phone fragment and profile name.
CREATE INDEX contacts_project_created_idx ON contacts (project_id, created_at DESC, id DESC) WHERE erased_at IS NULL;
