-- Each attempt of a webhook delivery, for GET /webhook_deliveries/{id}: what was sent (URL and
-- headers; the body is the delivery's own) and what came back (status, the start of the body
-- or the error), with its timing.
CREATE TABLE webhook_delivery_attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  request_url text NOT NULL,
  request_headers jsonb NOT NULL,
  response_status integer,
  response_body text,
  error text,
  started_at timestamptz NOT NULL,
  duration_ms double precision NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (delivery_id, attempt);

-- When a delivery was last queued again by hand (POST /webhook_deliveries/{id}/redeliver).
ALTER TABLE webhook_deliveries ADD COLUMN redelivered_at timestamptz;
