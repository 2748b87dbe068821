-- Whether the contact wrote last: the embedded inbox's `handoff` filter (conversations waiting
-- for a human reply). Set in the order messages are recorded, not by their timestamps: Meta's
-- inbound timestamps have whole seconds, so a reply and the contact's answer within one second
-- could not be ordered by time.
ALTER TABLE conversations ADD COLUMN awaiting_reply boolean NOT NULL DEFAULT false;
UPDATE conversations SET awaiting_reply =
  last_inbound_at IS NOT NULL AND (last_outbound_at IS NULL OR last_inbound_at > last_outbound_at);
