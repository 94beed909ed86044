-- The register of people across the city (issue #39 item 2; CONTRACT §3 "The register of people").
-- A person is known by a key derived from their identity document (HMAC-SHA256 under the deployment's
-- secret salt, contract/people.py); the number itself is never stored, only its masked form, and the
-- CHECKs below refuse anything else in those columns.
CREATE TABLE people (
    key                 text PRIMARY KEY CHECK (key ~ '^p-[0-9a-f]{32}$'),
    name                text NOT NULL DEFAULT '',
    id_masked           text CHECK (id_masked ~ '^[0-9]{4}\*{10}[0-9]{3}[0-9X]$'),
    qualifications      jsonb NOT NULL DEFAULT '[]',  -- [{kind, expires}]
    health_cert_expires date,
    health_check_on     date,  -- the last annual health check
    training_on         date,  -- the last annual health-care training
    -- a lifetime ban (终身禁入): where it comes from and since when; applies at every facility
    ban_source          text,
    banned_on           date,
    CHECK ((ban_source IS NULL) = (banned_on IS NULL)),
    updated_at          timestamptz NOT NULL
);

-- A ban, once recorded, is never changed or lifted by a registry load (the web's role loads registries).
CREATE FUNCTION people_ban_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.banned_on IS NOT NULL AND (NEW.banned_on IS DISTINCT FROM OLD.banned_on
                                      OR NEW.ban_source IS DISTINCT FROM OLD.ban_source) THEN
        RAISE EXCEPTION 'the ban of person % is recorded and stays', OLD.key USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER people_ban_stays BEFORE UPDATE ON people FOR EACH ROW EXECUTE FUNCTION people_ban_stays();

ALTER TABLE staff ADD COLUMN person_key text REFERENCES people(key);
CREATE INDEX staff_person ON staff (person_key) WHERE person_key IS NOT NULL;

-- A person's roles at facilities over time: opened when a registry lists them, closed when a later
-- registry of that facility no longer does.
CREATE TABLE person_roles (
    person_key  text NOT NULL REFERENCES people(key),
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    staff_id    text NOT NULL,
    role        text NOT NULL,
    since       timestamptz NOT NULL,
    until       timestamptz CHECK (until IS NULL OR until >= since),
    PRIMARY KEY (person_key, facility_id, staff_id, since)
);
CREATE UNIQUE INDEX person_roles_open ON person_roles (person_key, facility_id, staff_id) WHERE until IS NULL;
CREATE INDEX person_roles_facility ON person_roles (facility_id) WHERE until IS NULL;

CREATE TRIGGER people_changed AFTER INSERT OR UPDATE OR DELETE ON people
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
