-- 登记备案 (issue #39 item 1): a facility files its particulars with the county 卫生健康 department, which
-- accepts (备案, with a number per county and year), returns for correction with reasons, or refuses with
-- reasons. Changes after the first filing (变更备案) are filed and reviewed the same way. The rules are
-- supervision/filing.py; this schema guards what the web role could otherwise write wrongly:
--
-- - a filing is reviewed by an inspector (never an operator, never an admin) who is not its submitter;
-- - a return or a refusal says why; an accepted initial filing carries its number;
-- - an accepted or refused filing is final; a returned one only goes back to `submitted` (resubmitted);
-- - the history of every step, each submission with the particulars as submitted, is only ever added to.
--
-- Nothing here touches the registry the engine and the credit evaluation judge by: an accepted filing is
-- written into it (facilities, classes, staff, devices) in the transaction that accepts it, by the web.
CREATE TABLE filings (
    id            bigserial PRIMARY KEY,
    facility_id   text NOT NULL REFERENCES facilities(id) ON DELETE RESTRICT,
    county        text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    kind          text NOT NULL CHECK (kind IN ('initial', 'amendment')),
    -- the facility's entry in the registry's format (contract.registry.Facility, children left out: they
    -- are not filed), identity numbers already hashed to person keys
    particulars   jsonb NOT NULL CHECK (jsonb_typeof(particulars) = 'object'),
    -- what the registry does not hold: address, 举办者, the documents with their numbers and validity
    declared      jsonb NOT NULL CHECK (jsonb_typeof(declared) = 'object'),
    status        text NOT NULL DEFAULT 'submitted'
                      CHECK (status IN ('submitted', 'returned', 'accepted', 'refused')),
    submitted_by  text NOT NULL,
    submitted_at  timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,  -- the review's deadline: 5 working days (supervision.filing)
    reviewed_by   text,
    reviewed_at   timestamptz,
    reasons       text CHECK (length(reasons) <= 2000),
    filing_no     text UNIQUE,
    CONSTRAINT filing_reasons CHECK (status NOT IN ('returned', 'refused') OR length(btrim(reasons)) > 0),
    CONSTRAINT filing_reviewed CHECK ((status = 'submitted') = (reviewed_by IS NULL)),
    CONSTRAINT filing_not_own CHECK (reviewed_by IS NULL OR reviewed_by <> submitted_by),
    CONSTRAINT filing_numbered CHECK (filing_no IS NULL OR status = 'accepted'),
    CONSTRAINT filing_initial_numbered CHECK (kind <> 'initial' OR status <> 'accepted' OR filing_no IS NOT NULL)
);
-- at most one filing of a facility is open (submitted or returned) at a time
CREATE UNIQUE INDEX filings_one_open ON filings (facility_id) WHERE status IN ('submitted', 'returned');
CREATE INDEX filings_pending ON filings (county, due_at) WHERE status = 'submitted';
CREATE INDEX filings_facility ON filings (facility_id, id);

CREATE FUNCTION filing_steps() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    reviewer record;
BEGIN
    IF OLD.status IN ('accepted', 'refused') THEN
        RAISE EXCEPTION 'filing % is already %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.facility_id <> OLD.facility_id OR NEW.county <> OLD.county OR NEW.kind <> OLD.kind THEN
        RAISE EXCEPTION 'a filing''s facility and kind never change' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'returned' AND NEW.status <> 'submitted' THEN
        RAISE EXCEPTION 'a returned filing is resubmitted, not decided' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'submitted' AND NEW.status NOT IN ('returned', 'accepted', 'refused') THEN
        RAISE EXCEPTION 'a submitted filing is reviewed' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> 'submitted' THEN
        -- the reviewer is an inspector of the facility's county or of the city
        SELECT role, scope_county, scope_township INTO reviewer FROM users WHERE username = NEW.reviewed_by;
        IF reviewer IS NULL OR reviewer.role <> 'inspector' OR reviewer.scope_township IS NOT NULL
           OR (reviewer.scope_county IS NOT NULL AND reviewer.scope_county <> NEW.county) THEN
            RAISE EXCEPTION 'only a county or city inspector reviews a filing' USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.particulars <> OLD.particulars OR NEW.declared <> OLD.declared THEN
            RAISE EXCEPTION 'a review does not change what was filed' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER filing_steps BEFORE UPDATE ON filings FOR EACH ROW EXECUTE FUNCTION filing_steps();

-- every step: submitted (with what was submitted), returned, resubmitted, accepted, refused
CREATE TABLE filing_history (
    id           bigserial PRIMARY KEY,
    filing_id    bigint NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    action       text NOT NULL CHECK (action IN ('submitted', 'resubmitted', 'returned', 'accepted', 'refused')),
    actor        text NOT NULL,
    at           timestamptz NOT NULL,
    note         text CHECK (length(note) <= 2000),
    particulars  jsonb,
    declared     jsonb
);
CREATE INDEX filing_history_filing ON filing_history (filing_id, id);

-- 备案 numbers: per county and year (Xinzhou's), counting up, never given twice
CREATE TABLE filing_sequences (
    county   text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    year     int  NOT NULL CHECK (year BETWEEN 2000 AND 2999),
    last_no  int  NOT NULL CHECK (last_no > 0),
    PRIMARY KEY (county, year)
);
