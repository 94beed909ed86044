-- Maintenance windows need an inspector's approval (issue #37 item 3). Until now the facility's own
-- operator set a window of up to 31 days, starting in the past, approved by nobody, and it muted the
-- devices' health and excused lapses in the credit evaluation. A window is now requested, then approved
-- or rejected (with a reason) by an inspector in scope, or set directly by one (approved at once), or
-- withdrawn by the facility while pending; only an approved window has any effect (storage.maintenance,
-- storage.credit). The rules are in supervision/maintenance.py; this table only records them.
--
-- The windows already stored were set under the old rules, which allowed them: they become `approved`
-- (requested by their author, decided by nobody, decided_at NULL), so nothing that was in effect changes
-- behind anyone's back. New rows are `requested` unless a statement says otherwise.
ALTER TABLE maintenance_windows
    ADD COLUMN status text NOT NULL DEFAULT 'approved'
        CHECK (status IN ('requested', 'approved', 'rejected', 'withdrawn')),
    ADD COLUMN requested_by text,
    ADD COLUMN decided_by text,
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decision_reason text CHECK (length(decision_reason) <= 500);
UPDATE maintenance_windows SET requested_by = author;
ALTER TABLE maintenance_windows
    ALTER COLUMN status SET DEFAULT 'requested',
    ALTER COLUMN requested_by SET NOT NULL,
    -- a rejection says why
    ADD CONSTRAINT maintenance_rejected_reason
        CHECK (status <> 'rejected' OR (decided_by IS NOT NULL AND length(decision_reason) > 0));

-- A decision is final: only a pending request changes state, and only its decision columns (the web's
-- grant allows no others). Guarded here as well as in the code, so no bug in a service reopens a
-- rejected window or turns an approved one into something else after it muted alerts.
CREATE FUNCTION maintenance_decided_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.status <> 'requested' THEN
        RAISE EXCEPTION 'maintenance window % is already %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER maintenance_decided_once BEFORE UPDATE ON maintenance_windows
    FOR EACH ROW EXECUTE FUNCTION maintenance_decided_once();

-- the inspectors' list of pending requests, and the approved windows the engine and the monthly
-- total read
CREATE INDEX maintenance_pending ON maintenance_windows (facility_id) WHERE status = 'requested';
CREATE INDEX maintenance_approved ON maintenance_windows (facility_id, ends_at) WHERE status = 'approved';
