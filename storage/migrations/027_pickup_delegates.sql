-- Who may collect a child besides the registry's guardians (issue #39 item 3): pick-up delegates
-- (接送委托人) recorded by the facility's operator with the parents' consent, read by the alert engine
-- (alerts/people.py through supervision/pickup.py) and shown to the facility's inspectors. The rules are
-- supervision/pickup.py's; this table records them and guards what must never change.
--
-- Not tied to `children` by a foreign key: a registry upload replaces a facility's children (delete,
-- insert), and a delegation, its consent and its revocation are records to keep whatever the next upload.
CREATE TABLE pickup_delegates (
    id                 bigserial PRIMARY KEY,
    facility_id        text NOT NULL REFERENCES facilities (id),
    child_id           text NOT NULL CHECK (child_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    -- the id the door controller reports as the child_out's guardian_id (a card, a face id)
    person_id          text NOT NULL CHECK (person_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    relation           text NOT NULL CHECK (relation IN ('parent', 'grandparent', 'relative', 'nanny', 'other')),
    kind               text NOT NULL CHECK (kind IN ('one_off', 'standing')),
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    photo              bytea CHECK (octet_length(photo) <= 5242880),
    photo_type         text CHECK (photo_type IN ('image/jpeg', 'image/png')),
    -- the parents' consent: which registered guardian, how, when, and the evidence
    consent_by         text NOT NULL,
    consent_method     text NOT NULL CHECK (consent_method IN ('signed_form', 'note')),
    consent_at         timestamptz NOT NULL,
    consent_note       text NOT NULL DEFAULT '' CHECK (length(consent_note) <= 1000),
    consent_file       bytea CHECK (octet_length(consent_file) <= 5242880),
    consent_file_type  text CHECK (consent_file_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    consent_file_name  text CHECK (length(consent_file_name) <= 200),
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL,
    revoked_by         text,
    revoked_at         timestamptz,
    revoke_reason      text CHECK (length(revoke_reason) <= 500),
    CONSTRAINT pickup_valid_order CHECK (valid_until > valid_from),
    -- supervision/pickup.py's limits, again here: no validity from before the record beyond the form's
    -- grace (contract.pickup.DELEGATE_START_GRACE), at most a week for a one-off and a year otherwise
    CONSTRAINT pickup_no_past_start CHECK (valid_from >= created_at - interval '10 minutes'),
    CONSTRAINT pickup_length CHECK (
        valid_until - valid_from <= CASE kind WHEN 'one_off' THEN interval '7 days' ELSE interval '366 days' END),
    -- a consent is recorded: a signed form as a file, or a note saying who gave it and how
    CONSTRAINT pickup_consent_recorded CHECK (
        (consent_method = 'signed_form' AND consent_file IS NOT NULL AND consent_file_type IS NOT NULL)
        OR (consent_method = 'note' AND length(btrim(consent_note)) >= 10)),
    CONSTRAINT pickup_consent_not_future CHECK (consent_at <= created_at + interval '10 minutes'),
    CONSTRAINT pickup_not_self CHECK (person_id <> consent_by AND person_id <> child_id),
    CONSTRAINT pickup_revoked_by CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX pickup_delegates_facility ON pickup_delegates (facility_id, child_id);
CREATE INDEX pickup_delegates_current ON pickup_delegates (valid_until);

-- A record never changes but for its revocation, once: the web's grant allows only the revocation's
-- columns, and this refuses a second revocation or any other change, so no bug in a service rewrites a
-- consent or a validity after the engine judged pick-ups by it.
CREATE FUNCTION pickup_revoked_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'pickup delegate % is revoked already', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.facility_id, NEW.child_id, NEW.person_id, NEW.kind, NEW.valid_from, NEW.valid_until,
        NEW.consent_by, NEW.consent_method, NEW.consent_at, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.facility_id, OLD.child_id, OLD.person_id, OLD.kind, OLD.valid_from, OLD.valid_until,
        OLD.consent_by, OLD.consent_method, OLD.consent_at, OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'pickup delegate % is a record: only its revocation is written', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER pickup_revoked_once BEFORE UPDATE ON pickup_delegates
    FOR EACH ROW EXECUTE FUNCTION pickup_revoked_once();

-- The alert engine learns of a new or revoked delegate as it learns of a registry change: LISTEN
-- registry_changed (storage.listen.RegistryWatch), with no restart.
CREATE TRIGGER pickup_delegates_changed AFTER INSERT OR UPDATE OR DELETE ON pickup_delegates
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
