-- Every change to a phone number is announced on `parley_phone_numbers` (payload: Meta's id,
-- old and new when it changes) once its transaction commits, so each process's cache of live
-- numbers (the webhook receiver's and the Meta proxy's lookups) drops what changed, whichever
-- path or process changed it.
CREATE FUNCTION parley_announce_phone_number_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('parley_phone_numbers', OLD.phone_number_id);
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.phone_number_id <> OLD.phone_number_id) THEN
    PERFORM pg_notify('parley_phone_numbers', NEW.phone_number_id);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER phone_numbers_announce_change
  AFTER INSERT OR UPDATE OR DELETE ON phone_numbers
  FOR EACH ROW EXECUTE FUNCTION parley_announce_phone_number_change();
