-- Closures (issue #42 item 4): days a facility is closed by a decision rather than by its registry file.
--
-- - kind 'county': a county's 停课 (weather, an epidemic), declared by a county (or city) inspector or an
--   admin for every facility of the county (facility_ids NULL) or the facilities named; in effect at once
--   (status 'approved', decided by its declarer).
-- - kind 'facility': the facility's own closure days, requested by its operator and approved or rejected
--   by an inspector in scope; only an approved one closes anything, and nobody approves their own (the
--   rules are supervision/closures.py; the constraint below guards the last one too).
--
-- An approved closure reaches the opening hours every service reads (storage.registry.fetch_registry,
-- storage.queries.opening_hours): the alert engine hears of it through `registry_changed`, as of a
-- registry upload, and reloads without a restart. A day closed this way with children badged in is
-- still judged as open (alerts.people.hours_in_fact): a closure hides nothing about children on site.
CREATE TABLE closures (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('county', 'facility')),
    county          text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    facility_ids    text[] CHECK (facility_ids IS NULL OR cardinality(facility_ids) BETWEEN 1 AND 5000),
    first_day       date NOT NULL,
    last_day        date NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    status          text NOT NULL DEFAULT 'requested'
                        CHECK (status IN ('requested', 'approved', 'rejected', 'withdrawn')),
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text CHECK (length(decision_reason) <= 500),
    CONSTRAINT closure_days CHECK (last_day >= first_day AND last_day - first_day < 92),
    -- a facility's own closure names that one facility
    CONSTRAINT closure_one_facility CHECK (kind = 'county' OR cardinality(facility_ids) = 1),
    CONSTRAINT closure_rejected_reason
        CHECK (status <> 'rejected' OR (decided_by IS NOT NULL AND length(decision_reason) > 0)),
    -- the facility's request is decided by someone else
    CONSTRAINT closure_not_own
        CHECK (kind = 'county' OR status NOT IN ('approved', 'rejected') OR decided_by <> requested_by)
);

-- A decision is final: only a pending request changes, and only its decision columns (the web's grant).
CREATE FUNCTION closure_decided_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.status <> 'requested' THEN
        RAISE EXCEPTION 'closure % is already %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER closure_decided_once BEFORE UPDATE ON closures
    FOR EACH ROW EXECUTE FUNCTION closure_decided_once();
CREATE TRIGGER closures_changed AFTER INSERT OR UPDATE OR DELETE ON closures
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();

CREATE INDEX closures_approved ON closures (county, last_day) WHERE status = 'approved';
CREATE INDEX closures_pending ON closures (county) WHERE status = 'requested';
