-- Hosted onboarding links. The token is stored as a hash (for lookup) and encrypted (so the
-- link's `url`, which contains it, can be shown again on later reads).
CREATE TABLE setup_links (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  token_encrypted text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'used', 'revoked')),
  expires_at timestamptz,
  success_redirect_url text,
  failure_redirect_url text,
  allowed_origins text[] NOT NULL DEFAULT '{}',
  allowed_connection_types text[] NOT NULL DEFAULT '{coexistence,dedicated}',
  meta_billing_mode text NOT NULL DEFAULT 'customer_managed',
  theme_config jsonb,
  provision_phone_number boolean NOT NULL DEFAULT false,
  phone_number_area_code text,
  phone_number_country_isos text[] NOT NULL DEFAULT '{US}',
  reconnect_phone_number text,
  language text,
  whatsapp_setup_status text NOT NULL DEFAULT 'pending',
  whatsapp_setup_error text,
  provisioned_phone_number jsonb,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX setup_links_customer_idx ON setup_links (customer_id, created_at DESC, id DESC);
