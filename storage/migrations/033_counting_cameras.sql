-- Counting cameras (issue #37, carers who stay badged in while away): a camera over a child area may count
-- the adults in its view (on-camera people counting with a height filter; CONTRACT §2 `adults_count`).
-- A declared capability of the filed registry, written only by a registry load (an admin's upload or
-- `carewatch registry load`), never by the facility's operator: the web's grants on devices are those of a
-- registry upload (storage/roles.py), and only an admin may upload (web/actions.py load_registry_text).
ALTER TABLE devices ADD COLUMN counts_adults boolean NOT NULL DEFAULT false;
ALTER TABLE devices ADD CONSTRAINT counts_adults_camera
    CHECK (NOT counts_adults OR (type = 'camera' AND covers_child_area));
