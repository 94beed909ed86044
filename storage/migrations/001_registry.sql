-- Facility registry (CONTRACT §3). Plain tables: small, relational, referenced by everything.
CREATE TABLE facilities (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    name          text NOT NULL,
    county        text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    township      text NOT NULL CHECK (township ~ '^[0-9]{9}$' AND left(township, 6) = county),
    lat           double precision,
    lon           double precision,
    kind          text NOT NULL,
    timezone      text NOT NULL DEFAULT 'Asia/Shanghai',
    open_days     text[] NOT NULL,
    open_time     time NOT NULL,
    close_time    time NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facilities_area ON facilities (county, township);

CREATE TABLE classes (
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    id          text NOT NULL,
    age_group   text NOT NULL CHECK (age_group IN ('infant', 'toddler', 'older', 'mixed')),
    capacity    int  NOT NULL CHECK (capacity > 0),
    PRIMARY KEY (facility_id, id)
);

CREATE TABLE staff (
    facility_id         text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    id                  text NOT NULL,
    role                text NOT NULL,
    qualified           boolean NOT NULL DEFAULT false,
    licensed            boolean NOT NULL DEFAULT false,
    banned              boolean NOT NULL DEFAULT false,
    health_cert_expires date,
    PRIMARY KEY (facility_id, id)
);

CREATE TABLE children (
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    id          text NOT NULL,
    class_id    text NOT NULL,
    PRIMARY KEY (facility_id, id),
    FOREIGN KEY (facility_id, class_id) REFERENCES classes(facility_id, id) ON DELETE CASCADE
);

CREATE TABLE guardians (
    facility_id text NOT NULL,
    child_id    text NOT NULL,
    guardian_id text NOT NULL,
    PRIMARY KEY (facility_id, child_id, guardian_id),
    FOREIGN KEY (facility_id, child_id) REFERENCES children(facility_id, id) ON DELETE CASCADE
);

CREATE TABLE devices (
    facility_id       text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    id                text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    type              text NOT NULL,
    location          text NOT NULL DEFAULT '',
    heartbeat_s       int  NOT NULL DEFAULT 60 CHECK (heartbeat_s > 0),
    covers_child_area boolean NOT NULL DEFAULT false,
    PRIMARY KEY (facility_id, id)
);

-- Tell running services (ingest's device cache, the alert engine) that the registry changed.
CREATE FUNCTION notify_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('registry_changed', '');
    RETURN NULL;
END $$;
CREATE TRIGGER facilities_changed AFTER INSERT OR UPDATE OR DELETE ON facilities
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
CREATE TRIGGER staff_changed AFTER INSERT OR UPDATE OR DELETE ON staff
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
CREATE TRIGGER children_changed AFTER INSERT OR UPDATE OR DELETE ON children
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
CREATE TRIGGER guardians_changed AFTER INSERT OR UPDATE OR DELETE ON guardians
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
