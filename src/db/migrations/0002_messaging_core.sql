-- Messaging core: customers, users, phone numbers, contacts, conversations, messages,
-- assignments, marketing preferences, the event outbox, and the sandbox's own state.

-- Key/value settings Parley keeps for itself (e.g. the development encryption key, the sandbox
-- app secret) so every process of a deployment reads the same value.
CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  external_customer_id text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX customers_project_idx ON customers (project_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX customers_external_id_idx ON customers (project_id, external_customer_id)
  WHERE external_customer_id IS NOT NULL;

-- A person's account (user_id in the API) and their membership of a project (id in the API).
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

CREATE TABLE project_members (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'member')),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (project_id, user_id)
);

-- A WhatsApp number connected to a project. `id` is Parley's internal id (the API's
-- `internal_id`); `phone_number_id` is Meta's id (the API's `id`), unique among live numbers
-- because Meta's webhooks are routed by it. Deleting a number keeps its history: the row is
-- marked deleted and disappears from the API.
CREATE TABLE phone_numbers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  customer_id uuid REFERENCES customers (id) ON DELETE SET NULL,
  kind text NOT NULL CHECK (kind IN ('production', 'sandbox')),
  phone_number_id text NOT NULL,
  business_account_id text,
  name text NOT NULL,
  access_token_encrypted text,
  webhook_verify_token_encrypted text,
  webhook_destination_url text,
  inbound_processing_enabled boolean NOT NULL DEFAULT true,
  calls_enabled boolean NOT NULL DEFAULT false,
  is_coexistence boolean,
  webhook_verified_at timestamptz,
  display_name text,
  display_phone_number text,
  display_phone_number_normalized text,
  verified_name text,
  quality_rating text,
  code_verification_status text,
  name_status text,
  status text,
  throughput_tier text,
  messaging_limit text,
  is_official_business_account boolean,
  is_pin_enabled boolean,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX phone_numbers_meta_id_idx ON phone_numbers (phone_number_id) WHERE deleted_at IS NULL;
CREATE INDEX phone_numbers_project_idx ON phone_numbers (project_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX phone_numbers_customer_idx ON phone_numbers (customer_id) WHERE deleted_at IS NULL;

-- A WhatsApp user known to a project. `wa_id` is E.164 digits without '+'; it is null when
-- Meta identifies the person only by business-scoped user id (BSUID).
CREATE TABLE contacts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  wa_id text,
  business_scoped_user_id text,
  parent_business_scoped_user_id text,
  username text,
  profile_name text,
  display_name text,
  customer_id uuid REFERENCES customers (id) ON DELETE SET NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Set when erasure is requested; the row and its data are removed by a job.
  erased_at timestamptz
);
CREATE UNIQUE INDEX contacts_wa_id_idx ON contacts (project_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_bsuid_idx ON contacts (project_id, business_scoped_user_id)
  WHERE business_scoped_user_id IS NOT NULL;
CREATE INDEX contacts_project_idx ON contacts (project_id, created_at DESC, id DESC);
CREATE INDEX contacts_parent_bsuid_idx ON contacts (project_id, parent_business_scoped_user_id)
  WHERE parent_business_scoped_user_id IS NOT NULL;

-- At most one active conversation per contact and number (a partial unique index makes that
-- hold under concurrent webhooks). The summary columns back the API's `kapso` block.
CREATE TABLE conversations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
  metadata jsonb NOT NULL DEFAULT '{}',
  last_active_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  ended_at timestamptz,
  messages_count integer NOT NULL DEFAULT 0,
  unread_count integer NOT NULL DEFAULT 0,
  last_message_id text,
  last_message_type text,
  last_message_timestamp timestamptz,
  last_message_text text,
  last_inbound_at timestamptz,
  last_outbound_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX conversations_one_active_idx ON conversations (phone_number_ref, contact_id)
  WHERE status = 'active';
CREATE INDEX conversations_project_activity_idx ON conversations (project_id, last_active_at DESC, id DESC);
CREATE INDEX conversations_number_activity_idx ON conversations (phone_number_ref, last_active_at DESC, id DESC);
CREATE INDEX conversations_contact_idx ON conversations (contact_id);
CREATE INDEX conversations_stale_idx ON conversations (last_active_at) WHERE status = 'active';

-- Every WhatsApp message, inbound or outbound. `wamid` is Meta's id (null until Meta accepts
-- an outbound send); a replayed webhook is recognised by it. `content` holds Meta's type
-- object (`{"body": …}` for text, `{"id", "mime_type", …}` for media, …).
CREATE TABLE messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  wamid text,
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  type text NOT NULL,
  content jsonb NOT NULL DEFAULT '{}',
  -- Plain-text rendering of the message, for summaries, search and the `kapso.content` field.
  text text,
  context jsonb,
  status text NOT NULL CHECK (status IN ('received', 'pending', 'sent', 'delivered', 'read', 'failed')),
  processing_status text NOT NULL DEFAULT 'completed',
  origin text NOT NULL DEFAULT 'cloud_api',
  -- Meta's timestamp of the message (inbound) or of the send (outbound).
  sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Raw Meta status objects, in the order received.
  statuses jsonb NOT NULL DEFAULT '[]',
  error jsonb,
  media jsonb,
  biz_opaque_callback_data text,
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX messages_wamid_idx ON messages (phone_number_ref, wamid) WHERE wamid IS NOT NULL;
CREATE UNIQUE INDEX messages_idempotency_idx ON messages (phone_number_ref, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_conversation_idx ON messages (conversation_id, sent_at DESC, id DESC);
CREATE INDEX messages_number_idx ON messages (phone_number_ref, sent_at DESC, id DESC);
CREATE INDEX messages_contact_idx ON messages (contact_id);

CREATE TABLE conversation_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  notes text,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX conversation_assignments_one_active_idx ON conversation_assignments (conversation_id)
  WHERE active;
CREATE INDEX conversation_assignments_user_idx ON conversation_assignments (user_id) WHERE active;
CREATE INDEX conversation_assignments_conversation_idx ON conversation_assignments (conversation_id, created_at DESC);

-- A contact's marketing opt-out state on one number, from Meta's signals.
CREATE TABLE marketing_preferences (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('stopped', 'resumed')),
  detail text,
  source text NOT NULL CHECK (source IN ('meta_webhook', 'meta_delivery_error', 'meta_synchronous_error')),
  last_event_at timestamptz NOT NULL,
  sequence bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (contact_id, phone_number_ref)
);

-- The event outbox: every state change others must hear about (webhooks, the live inbox) is
-- written here in the same transaction as the change itself, and announced with NOTIFY.
CREATE TABLE events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  type text NOT NULL,
  phone_number_ref uuid,
  conversation_id uuid,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX events_project_idx ON events (project_id, created_at DESC);
CREATE INDEX events_created_idx ON events (created_at);

-- The offline WhatsApp Cloud API sandbox keeps its state in the database too, so any process
-- can serve it: the messages it accepted (to count sends), uploaded media, templates, and
-- injected failures.
CREATE TABLE sandbox_sends (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  phone_number_id text NOT NULL,
  wamid text NOT NULL UNIQUE,
  recipient text NOT NULL,
  type text NOT NULL,
  body jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sandbox_sends_number_idx ON sandbox_sends (phone_number_id, created_at);

CREATE TABLE sandbox_media (
  id text PRIMARY KEY,
  phone_number_id text NOT NULL,
  mime_type text NOT NULL,
  sha256 text NOT NULL,
  file_size integer NOT NULL,
  filename text,
  data bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE sandbox_templates (
  id text PRIMARY KEY,
  business_account_id text NOT NULL,
  name text NOT NULL,
  language text NOT NULL,
  category text NOT NULL,
  status text NOT NULL,
  components jsonb NOT NULL DEFAULT '[]',
  rejected_reason text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (business_account_id, name, language)
);

CREATE TABLE sandbox_failures (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  phone_number_id text NOT NULL,
  -- What fails: 'send' (messages), 'template' (template creation), …
  operation text NOT NULL,
  remaining integer NOT NULL CHECK (remaining >= 0),
  error jsonb NOT NULL,
  http_status integer NOT NULL DEFAULT 400,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sandbox_failures_idx ON sandbox_failures (phone_number_id, operation, created_at) WHERE remaining > 0;
