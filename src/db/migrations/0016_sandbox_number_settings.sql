-- More of what a caller can change on a fake number: its settings (`POST /{id}/settings`,
-- stored as given and merged into the defaults on read) and a pending verification-code
-- request (`request_code`, which `verify_code` answers).
ALTER TABLE sandbox_numbers ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
ALTER TABLE sandbox_numbers ADD COLUMN code_requested_at timestamptz;
