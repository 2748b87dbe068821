-- A send's 24-hour window is read from the summaries of the contact's conversations with the
-- number; with only `contact_id` indexed, PostgreSQL combined it with the number's index (every
-- conversation of the number) to find them. Contact first, so lookups by contact alone still
-- use it.
CREATE INDEX conversations_contact_number_idx ON conversations (contact_id, phone_number_ref);
DROP INDEX conversations_contact_idx;
