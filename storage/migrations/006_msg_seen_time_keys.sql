-- Dedup keys now begin with the hour of the message's own time (4 bytes, big-endian) followed by a
-- 96-bit BLAKE2b digest of (facility_id, device_id, msg_id) (ingest/writer.py). Random 16-byte keys
-- put every claim on a random page of a large index (a full-page WAL image per page after each
-- checkpoint); hour-first keys are claimed near the right-hand edge. The retention job deletes a key
-- range, so received_at and its index (a second index insert per message) are no longer needed.
-- Keys of the old form cannot match new ones: they are dropped, and a copy of a message stored
-- before this migration that arrives again afterwards is stored again (once).
TRUNCATE msg_seen;
DROP INDEX msg_seen_received;
ALTER TABLE msg_seen DROP COLUMN received_at;
