-- Webhook delivery, part two: raw Meta forwarding, automatic pausing, per-conversation ordering,
-- inactivity notices and buffering (batches).

-- Automatic pausing: the failure streak since the last success, and why the webhook was paused.
-- A webhook paused by Parley (paused_reason set) keeps collecting its deliveries, held until it
-- is resumed; one paused through the API (active = false, no reason) receives nothing new.
ALTER TABLE webhooks
  ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
  ADD COLUMN failing_since timestamptz,
  ADD COLUMN paused_at timestamptz,
  ADD COLUMN paused_reason text;
-- At most one meta (raw forwarding) webhook per phone number.
CREATE UNIQUE INDEX webhooks_one_meta_per_number ON webhooks (phone_number_ref) WHERE kind = 'meta';

-- One sequence numbers every delivery and every buffered message, in the order they were written:
-- it orders a conversation's deliveries and fills batch_info.first_sequence / last_sequence.
CREATE SEQUENCE webhook_delivery_seq;
ALTER TABLE webhook_deliveries
  ADD COLUMN seq bigint NOT NULL DEFAULT nextval('webhook_delivery_seq'),
  -- The exact bytes to send (meta forwarding keeps Meta's body unchanged); NULL: the JSON of payload.
  ADD COLUMN body text,
  -- NULL: the delivery id (meta forwarding: the SHA-256 of the body).
  ADD COLUMN idempotency_key text,
  -- A test delivery (POST …/test) goes out even while its webhook is paused.
  ADD COLUMN test boolean NOT NULL DEFAULT false,
  -- Set on a batch of buffered messages: how many it carries.
  ADD COLUMN batch_size integer,
  ALTER COLUMN payload DROP NOT NULL;
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, conversation_id, seq)
  WHERE status = 'pending';

-- An event meant for one webhook only (whatsapp.conversation.inactive, timed per webhook).
ALTER TABLE events ADD COLUMN webhook_id uuid;

-- The message after which each webhook last heard `whatsapp.conversation.inactive` for a
-- conversation, so a timer that runs twice notifies once.
CREATE TABLE webhook_inactivity_notices (
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  message_id uuid NOT NULL,
  notified_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (webhook_id, conversation_id)
);

-- Messages waiting in a webhook's per-conversation buffer; the dispatcher turns them into one
-- batch delivery when the window closes or the buffer is full.
CREATE TABLE webhook_buffer_items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL,
  phone_number_ref uuid,
  event text NOT NULL,
  payload jsonb NOT NULL,
  seq bigint NOT NULL DEFAULT nextval('webhook_delivery_seq'),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_buffer_items_idx ON webhook_buffer_items (webhook_id, conversation_id, seq);
