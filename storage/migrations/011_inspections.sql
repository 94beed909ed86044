-- Inspection records (检查记录), issue #16: a visit or a remote inspection of a facility, planned and then
-- recorded against a checklist (contract/inspection.py), a finding per item, notes, photos, sign-off.
-- Signed records do not change. A failed item can become a rectification order (source 'inspection').
CREATE TABLE inspections (
    id            bigserial PRIMARY KEY,
    facility_id   text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('visit', 'remote')),
    planned_for   date NOT NULL,
    planned_by    text NOT NULL,
    level         text NOT NULL CHECK (level IN ('township', 'county', 'city')),
    status        text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'signed')),
    findings      jsonb NOT NULL DEFAULT '{}',  -- item code -> {"result": pass|fail|na, "note": "..."}
    notes         text NOT NULL DEFAULT '' CHECK (length(notes) <= 4000),
    inspected_at  timestamptz,
    signed_by     text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON inspections (facility_id, planned_for DESC);

ALTER TABLE rectification_orders ADD COLUMN inspection_id bigint REFERENCES inspections(id) ON DELETE SET NULL;
ALTER TABLE evidence_files ALTER COLUMN history_id DROP NOT NULL;
ALTER TABLE evidence_files ADD COLUMN inspection_id bigint REFERENCES inspections(id) ON DELETE CASCADE;
ALTER TABLE evidence_files ADD CONSTRAINT evidence_of_one CHECK ((history_id IS NULL) <> (inspection_id IS NULL));
