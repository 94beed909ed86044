-- Appeals against a month's credit record (申诉), issue #37 item 4: a record of their own, decided.
--
-- Before, an appeal was a note on credit_records (appeal_note, appeal_by, appeal_at) that the next appeal
-- overwrote and nobody decided. Now every appeal is a row, kept: filed by the facility's operator, at most
-- one pending per facility and month, decided by a county or city inspector (supervision/credit.py):
-- accepted with a corrected score and a reason, or rejected with a reason.
--
-- The web's role may not write a record's score or grade (tests/test_attacks.py): an accepted appeal
-- reaches the record only through the trigger below, which also writes the figures before the decision
-- into the appeal itself and refuses to change a decided appeal. So a stored month changes only with an
-- appeal row saying who, when, why, from what and to what.
CREATE TABLE credit_appeals (
    id               bigserial PRIMARY KEY,
    facility_id      text NOT NULL,
    month            date NOT NULL,
    note             text NOT NULL CHECK (length(note) BETWEEN 1 AND 4000),
    filed_by         text NOT NULL,
    filed_at         timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    decided_by       text,
    decided_at       timestamptz,
    reason           text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 4000),
    score_before     numeric(5, 1),
    grade_before     text,
    corrected_score  numeric(5, 1) CHECK (corrected_score BETWEEN 0 AND 100),
    corrected_grade  text,
    FOREIGN KEY (facility_id, month) REFERENCES credit_records (facility_id, month) ON DELETE CASCADE,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK (status = 'pending' OR (decided_by IS NOT NULL AND reason IS NOT NULL)),
    CHECK ((status = 'accepted') = (corrected_score IS NOT NULL AND corrected_grade IS NOT NULL))
);
CREATE UNIQUE INDEX credit_appeal_one_pending ON credit_appeals (facility_id, month) WHERE status = 'pending';
CREATE INDEX ON credit_appeals (month, facility_id);

-- the notes of before, each an appeal not yet decided
INSERT INTO credit_appeals (facility_id, month, note, filed_by, filed_at)
SELECT facility_id, month, appeal_note, coalesce(appeal_by, 'unknown'), coalesce(appeal_at, computed_at)
FROM credit_records WHERE appeal_note IS NOT NULL AND length(appeal_note) > 0;
ALTER TABLE credit_records DROP COLUMN appeal_note, DROP COLUMN appeal_by, DROP COLUMN appeal_at;

CREATE FUNCTION carewatch_credit_appeal_decided() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'appeal % was decided already: a decision is never changed', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.facility_id <> OLD.facility_id OR NEW.month <> OLD.month THEN
        RAISE EXCEPTION 'an appeal stays with its month' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> 'pending' THEN
        SELECT score, grade INTO NEW.score_before, NEW.grade_before FROM credit_records
        WHERE facility_id = NEW.facility_id AND month = NEW.month FOR UPDATE;
        IF NEW.status = 'accepted' THEN
            UPDATE credit_records SET score = NEW.corrected_score, grade = NEW.corrected_grade
            WHERE facility_id = NEW.facility_id AND month = NEW.month;
        END IF;
    END IF;
    RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION carewatch_credit_appeal_decided() FROM PUBLIC;
CREATE TRIGGER credit_appeal_decided BEFORE UPDATE ON credit_appeals
    FOR EACH ROW EXECUTE FUNCTION carewatch_credit_appeal_decided();
