-- Phone numbers: cached health checks and database-backed rate limits; the sandbox: how an
-- injected failure surfaces, and the Meta-side state of its fake WABAs and numbers.

-- 'sync': the call itself answers Meta's error. 'async': the call is accepted and the failure
-- arrives later as a webhook (a `failed` status, a REJECTED template).
ALTER TABLE sandbox_failures
  ADD COLUMN mode text NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'async'));

-- A fake WhatsApp Business Account: its seed templates are created once, on first use, so a
-- deleted seed template stays deleted.
CREATE TABLE sandbox_wabas (
  business_account_id text PRIMARY KEY,
  subscribed_at timestamptz,
  templates_seeded_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- What a caller changed on a fake number (registration, business profile); everything else
-- about a sandbox number is derived from its id.
CREATE TABLE sandbox_numbers (
  phone_number_id text PRIMARY KEY,
  registered_at timestamptz,
  business_profile jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The last health check of a number (cached for 3 minutes; longer while backing off after
-- Meta refused the number's token). `checking_since` marks a check in progress, so that
-- concurrent requests on any process wait for it instead of calling Meta again.
CREATE TABLE phone_number_health (
  phone_number_ref uuid PRIMARY KEY REFERENCES phone_numbers (id) ON DELETE CASCADE,
  payload jsonb,
  checked_at timestamptz,
  expires_at timestamptz,
  retry_after timestamptz,
  backoff_step integer NOT NULL DEFAULT 0,
  checking_since timestamptz
);

-- Fixed-window request counters shared by every process (e.g. health checks per project).
CREATE TABLE rate_limit_counters (
  key text NOT NULL,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL,
  PRIMARY KEY (key, window_start)
);

-- A deleted upload keeps its id (so the id is not mistaken for another object) but not its bytes.
ALTER TABLE sandbox_media ADD COLUMN deleted_at timestamptz;
