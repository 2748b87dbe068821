-- Messages are listed by `sent_at`, then `id`. Meta's inbound timestamps have whole seconds, so
-- a burst of messages within one second was ordered by random (v4) ids: a thread could show
-- "how are you?" before "hi". New message ids are time-ordered UUIDs (version 7: the first 48
-- bits are the milliseconds since the epoch at insert), so within one second they list in the
-- order they were recorded.
CREATE FUNCTION parley_uuid_v7() RETURNS uuid AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1), 'hex')::uuid
$$ LANGUAGE sql VOLATILE;

ALTER TABLE messages ALTER COLUMN id SET DEFAULT parley_uuid_v7();
