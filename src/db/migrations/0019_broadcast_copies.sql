-- Broadcast copies (a Parley extension): a `copying` broadcast names the broadcast whose
-- recipients its copy job copies, so a copy whose job was lost can be run again.
ALTER TABLE broadcasts ADD COLUMN copied_from uuid REFERENCES broadcasts (id) ON DELETE SET NULL;
