-- Display-name change requests sent to Meta, the sandbox's side of Meta's review, and how a
-- setup link records its use.

CREATE TABLE display_name_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  phone_number_ref uuid NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
  -- Meta's phone number id when the request was made (the API's `phone_number_id`).
  phone_number_id text NOT NULL,
  requested_display_name text NOT NULL,
  previous_display_name text,
  status text NOT NULL CHECK (status IN ('submitted', 'pending_review', 'approved', 'available_without_review',
    'deferred', 'declined', 'expired', 'no_review', 'failed', 'applied', 'cancelled')),
  submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  reviewed_at timestamptz,
  applied_at timestamptz,
  meta_error_code integer,
  meta_error_subcode integer,
  meta_error_type text,
  meta_error_message text,
  -- When the poller should next ask Meta about an open request.
  next_check_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- One open request per number, held by the database so concurrent submissions cannot both pass.
CREATE UNIQUE INDEX display_name_requests_open_idx ON display_name_requests (phone_number_ref)
  WHERE status IN ('submitted', 'pending_review', 'deferred');
CREATE INDEX display_name_requests_number_idx
  ON display_name_requests (phone_number_ref, submitted_at DESC, id DESC);
CREATE INDEX display_name_requests_due_idx ON display_name_requests (next_check_at)
  WHERE status IN ('submitted', 'pending_review', 'deferred');

-- How the sandbox reviews a number's next display names (set through /sandbox/display_name_outcomes).
CREATE TABLE sandbox_display_name_outcomes (
  phone_number_id text PRIMARY KEY,
  outcome text NOT NULL CHECK (outcome IN ('instant', 'review', 'decline')),
  review_ms integer NOT NULL DEFAULT 0,
  error jsonb,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The sandbox's record of the last display name submitted for a number (Meta's `new_display_name`):
-- under review until `decide_at`, then `decision`.
CREATE TABLE sandbox_display_names (
  phone_number_id text PRIMARY KEY,
  new_display_name text NOT NULL,
  decision text NOT NULL CHECK (decision IN ('APPROVED', 'AVAILABLE_WITHOUT_REVIEW')),
  decide_at timestamptz NOT NULL,
  submitted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Setup links: when a link was used and the number its onboarding connected.
ALTER TABLE setup_links
  ADD COLUMN used_at timestamptz,
  ADD COLUMN phone_number_ref uuid REFERENCES phone_numbers (id) ON DELETE SET NULL;
