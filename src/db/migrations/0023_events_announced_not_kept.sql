-- Events are fanned out to webhook deliveries (the outbox) and announced with NOTIFY in the
-- transaction of the change, but no longer kept: nothing read them back except the live inbox,
-- which now reads the message itself. The table only grew (every message and status, with
-- its text, never pruned, and kept after a contact was erased).
DROP TABLE events;
