-- A batch that fails for good is re-sent as single events: each single names the batch it
-- came from (and a batch is split only once).
ALTER TABLE webhook_deliveries ADD COLUMN batch_delivery_id uuid;
CREATE INDEX webhook_deliveries_batch_idx ON webhook_deliveries (batch_delivery_id)
  WHERE batch_delivery_id IS NOT NULL;
