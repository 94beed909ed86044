-- Parents' complaints (投诉) from the public page (issue #40 item 7): anyone files one about a facility, with
-- what happened, when, and optionally a contact. It reaches the facility's county inspectors with a deadline
-- to answer (supervision/complaints.py ANSWER_PERIOD); unanswered past it, it is the city's (read at `now`,
-- supervision/complaints.py level_at). The complainant follows it with a follow-up code shown once at filing:
-- only its SHA-256 is kept here, so this table gives nobody the codes.
--
-- received -> handling (受理) -> answered (the department's public answer) -> closed. Who may take a step is
-- supervision/complaints.py; the trigger below keeps a step from being undone or the complaint rewritten,
-- whoever holds the web's grant: what was filed, its facility, its dates and contact never change, a status
-- only moves forward, and an answer once given stays.
CREATE TABLE complaints (
    id           bigserial PRIMARY KEY,
    facility_id  text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    code_sha256  text NOT NULL UNIQUE CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
    what         text NOT NULL CHECK (length(what) BETWEEN 1 AND 2000),
    happened_on  date NOT NULL,
    contact      text CHECK (contact IS NULL OR length(contact) BETWEEN 1 AND 100),
    filed_at     timestamptz NOT NULL,
    due_at       timestamptz NOT NULL CHECK (due_at > filed_at),
    status       text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'handling', 'answered', 'closed')),
    handled_by   text,
    handled_at   timestamptz,
    answer       text CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 2000),
    answered_by  text,
    answered_at  timestamptz,
    closed_by    text,
    closed_at    timestamptz,
    CHECK ((status IN ('answered', 'closed')) = (answer IS NOT NULL AND answered_at IS NOT NULL)),
    CHECK (status <> 'closed' OR closed_at IS NOT NULL)
);
CREATE INDEX complaints_open ON complaints (due_at) WHERE status IN ('received', 'handling');
CREATE INDEX complaints_facility ON complaints (facility_id, filed_at DESC);

CREATE TABLE complaint_history (
    id            bigserial PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaints(id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('filed', 'handling', 'answered', 'closed')),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 2000)
);
CREATE INDEX ON complaint_history (complaint_id, at);

CREATE FUNCTION complaint_forward_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    rank_of CONSTANT text[] := ARRAY['received', 'handling', 'answered', 'closed'];
BEGIN
    IF (NEW.facility_id, NEW.code_sha256, NEW.what, NEW.happened_on, NEW.contact, NEW.filed_at, NEW.due_at)
        IS DISTINCT FROM
       (OLD.facility_id, OLD.code_sha256, OLD.what, OLD.happened_on, OLD.contact, OLD.filed_at, OLD.due_at) THEN
        RAISE EXCEPTION 'complaint %: what was filed never changes', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF array_position(rank_of, NEW.status) <= array_position(rank_of, OLD.status) THEN
        RAISE EXCEPTION 'complaint %: % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.answer IS NOT NULL AND NEW.answer IS DISTINCT FROM OLD.answer THEN
        RAISE EXCEPTION 'complaint %: an answer once given stays', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER complaint_forward_only BEFORE UPDATE ON complaints
    FOR EACH ROW EXECUTE FUNCTION complaint_forward_only();
