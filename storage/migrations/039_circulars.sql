-- 通报 (circulars) and the last printable documents (issue #40 items 1 and 4).
--
-- A 通报 is drafted by a county or city inspector (or an admin, the city's level) for their department:
-- a title, its kind (表扬 commendation, 批评 criticism, 情况 report), the text and its subjects, each a
-- facility or a lower department (a county under the city, a township under its county) with what is
-- said of it. Once issued it carries a number (忻卫托通〔2026〕3号, migration 028's sequences) and never
-- changes again, nor do its subjects; a public one (公开通报) is listed on the public pages. Who may
-- write is held here too, not only by the web (supervision/circulars.py): the writer of every change is
-- named, and must be a county or city inspector of the circular's department or an admin; an operator or
-- a township inspector never is. Subjects are within the department's scope.
CREATE TABLE circulars (
    id          bigserial PRIMARY KEY,
    department  text NOT NULL CHECK (department = 'city' OR department ~ '^[0-9]{6}$'),
    kind        text NOT NULL CHECK (kind IN ('commend', 'criticise', 'report')),
    title       text NOT NULL CHECK (length(btrim(title)) BETWEEN 2 AND 200),
    body        text NOT NULL CHECK (length(body) <= 8000),
    public      boolean NOT NULL DEFAULT false,
    status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'issued')),
    drafted_by  text NOT NULL,
    drafted_at  timestamptz NOT NULL,
    updated_by  text NOT NULL,  -- who wrote the row last (the trigger checks them)
    updated_at  timestamptz NOT NULL,
    issued_by   text,
    issued_at   timestamptz,
    CONSTRAINT circular_issued CHECK ((status = 'issued') = (issued_by IS NOT NULL AND issued_at IS NOT NULL)),
    CONSTRAINT circular_issued_by_writer CHECK (issued_by IS NULL OR issued_by = updated_by)
);
CREATE INDEX circulars_department ON circulars (department, id);
CREATE INDEX circulars_public ON circulars (issued_at) WHERE public AND status = 'issued';

CREATE TABLE circular_subjects (
    circular_id bigint NOT NULL REFERENCES circulars(id) ON DELETE CASCADE,
    position    int NOT NULL CHECK (position BETWEEN 0 AND 199),
    facility_id text REFERENCES facilities(id) ON DELETE RESTRICT,
    area        text CHECK (area ~ '^[0-9]{6}([0-9]{3})?$'),  -- a county's or a township's code
    statement   text NOT NULL CHECK (length(statement) <= 2000),
    PRIMARY KEY (circular_id, position),
    CONSTRAINT subject_one CHECK (num_nonnulls(facility_id, area) = 1)
);
CREATE INDEX circular_subjects_facility ON circular_subjects (facility_id) WHERE facility_id IS NOT NULL;
CREATE INDEX circular_subjects_area ON circular_subjects (area) WHERE area IS NOT NULL;

-- the writer is a county or city inspector of the department (or an admin, for the city)
CREATE FUNCTION circular_writer_ok(username text, department text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM users u
        WHERE u.username = circular_writer_ok.username AND NOT u.disabled
          AND u.scope_township IS NULL AND u.scope_facility IS NULL
          AND ((u.role = 'inspector' AND coalesce(u.scope_county, 'city') = circular_writer_ok.department)
               OR (u.role = 'admin' AND circular_writer_ok.department = 'city'))
    )
$fn$;

CREATE FUNCTION circular_written() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status = 'issued' THEN
            RAISE EXCEPTION 'circular % is issued: it never changes', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.department <> OLD.department OR NEW.drafted_by <> OLD.drafted_by
           OR NEW.drafted_at <> OLD.drafted_at THEN
            RAISE EXCEPTION 'a circular''s department and drafter never change' USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.status <> 'draft' OR NEW.updated_by <> NEW.drafted_by THEN
        RAISE EXCEPTION 'a circular is drafted first, by its writer' USING ERRCODE = 'check_violation';
    END IF;
    IF NOT circular_writer_ok(NEW.updated_by, NEW.department) THEN
        RAISE EXCEPTION 'only a county or city inspector of the department writes its circulars (not %)',
            NEW.updated_by USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'issued' AND NOT EXISTS (SELECT 1 FROM circular_subjects WHERE circular_id = NEW.id) THEN
        RAISE EXCEPTION 'a circular is issued with its subjects' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER circular_written BEFORE INSERT OR UPDATE ON circulars
    FOR EACH ROW EXECUTE FUNCTION circular_written();

-- a subject is written only while its circular is a draft, within the department's scope: the city names
-- any facility, county or township; a county its own facilities and townships
CREATE FUNCTION circular_subject_written() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    c record;
    county text;
BEGIN
    SELECT status, department INTO c FROM circulars
        WHERE id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.circular_id ELSE NEW.circular_id END);
    IF c.status IS DISTINCT FROM 'draft' THEN
        IF TG_OP = 'DELETE' AND c.status IS NULL THEN  -- the circular itself is being deleted
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the circular is issued: its subjects never change' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF c.department <> 'city' THEN
        IF NEW.facility_id IS NOT NULL THEN
            SELECT f.county INTO county FROM facilities f WHERE f.id = NEW.facility_id;
        ELSE
            county := CASE WHEN length(NEW.area) = 9 THEN left(NEW.area, 6) END;
        END IF;
        IF county IS DISTINCT FROM c.department THEN
            RAISE EXCEPTION 'a county''s circular names its own facilities and townships'
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER circular_subject_written BEFORE INSERT OR UPDATE OR DELETE ON circular_subjects
    FOR EACH ROW EXECUTE FUNCTION circular_subject_written();

-- The documents' numbers (migration 028) for three more kinds: a 复查意见书 (its re-inspection), a 督办通知
-- (the order's 催办 or 约谈 step) and a 通报. Each document has one number at most, of its own kind.
ALTER TABLE document_sequences DROP CONSTRAINT document_sequences_kind_check;
ALTER TABLE document_sequences ADD CONSTRAINT document_sequences_kind_check
    CHECK (kind IN ('order', 'inspection', 'recheck', 'supervision', 'circular'));
ALTER TABLE document_numbers DROP CONSTRAINT document_numbers_kind_check;
ALTER TABLE document_numbers ADD CONSTRAINT document_numbers_kind_check
    CHECK (kind IN ('order', 'inspection', 'recheck', 'supervision', 'circular'));
ALTER TABLE document_numbers DROP CONSTRAINT document_numbers_check;
ALTER TABLE document_numbers DROP CONSTRAINT document_numbers_check1;
ALTER TABLE document_numbers ADD COLUMN recheck_id bigint UNIQUE REFERENCES inspections(id) ON DELETE SET NULL;
ALTER TABLE document_numbers ADD COLUMN supervision_id bigint UNIQUE
    REFERENCES rectification_history(id) ON DELETE SET NULL;
ALTER TABLE document_numbers ADD COLUMN circular_id bigint UNIQUE REFERENCES circulars(id) ON DELETE SET NULL;
ALTER TABLE document_numbers ADD CONSTRAINT document_numbers_of_kind CHECK (
    (order_id IS NULL OR kind = 'order') AND (inspection_id IS NULL OR kind = 'inspection')
    AND (recheck_id IS NULL OR kind = 'recheck') AND (supervision_id IS NULL OR kind = 'supervision')
    AND (circular_id IS NULL OR kind = 'circular'));

-- 复查 inspections signed and 督办 steps taken before this migration get their numbers now, in the order
-- they happened (as migration 028 numbered the orders and records before it).
INSERT INTO document_numbers (department, kind, year, seq, recheck_id, allocated_at)
SELECT dept, 'recheck', yr, row_number() OVER (PARTITION BY dept, yr ORDER BY inspected_at, id), id, inspected_at
FROM (
    SELECT i.id, i.inspected_at,
           CASE i.level WHEN 'city' THEN 'city' WHEN 'county' THEN f.county ELSE f.township END AS dept,
           extract(year FROM i.inspected_at AT TIME ZONE 'Asia/Shanghai')::int AS yr
    FROM inspections i JOIN facilities f ON f.id = i.facility_id
    WHERE i.status IN ('countersign', 'signed') AND i.id IN (SELECT inspection_id FROM order_rechecks)
) x;
INSERT INTO document_numbers (department, kind, year, seq, supervision_id, allocated_at)
SELECT dept, 'supervision', yr, row_number() OVER (PARTITION BY dept, yr ORDER BY at, id), id, at
FROM (
    SELECT h.id, h.at,
           CASE coalesce(h.detail->>'by_level', 'city') WHEN 'city' THEN 'city' WHEN 'county' THEN f.county
                ELSE f.township END AS dept,
           extract(year FROM h.at AT TIME ZONE 'Asia/Shanghai')::int AS yr
    FROM rectification_history h JOIN rectification_orders o ON o.id = h.order_id
    JOIN facilities f ON f.id = o.facility_id
    WHERE h.action IN ('urged', 'summoned')
) x;
INSERT INTO document_sequences (department, kind, year, last_no)
SELECT department, kind, year, max(seq) FROM document_numbers WHERE kind IN ('recheck', 'supervision')
GROUP BY department, kind, year;
