-- Messages stored together by one statement (a burst of webhooks, a batch of sends) share the
-- millisecond of their time-ordered ids, whose remaining bits are random: they would list in
-- random order. parley_uuid_v7(seq) puts `seq` (0–4095, the row's position in its statement)
-- in the 12 bits that follow the milliseconds (RFC 9562's counter), so within one statement the
-- ids keep the rows' order.
CREATE FUNCTION parley_uuid_v7(seq int) RETURNS uuid AS $$
  SELECT encode(
    set_bit(set_bit(set_bit(
      overlay(overlay(uuid_send(gen_random_uuid())
                      PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                      FROM 1 FOR 6)
              PLACING int2send((seq & 4095)::int2) FROM 7 FOR 2),
      52, 1), 53, 1), 54, 1), 'hex')::uuid
$$ LANGUAGE sql VOLATILE;
