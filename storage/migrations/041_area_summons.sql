-- 督导评估 (issue #40 item 9): a 约谈 of a lagging area, recorded from the assessment page. The city summons a
-- county's department, a county one of its townships (supervision/assessment.py may_summon); the record
-- keeps the date it was held, the people summoned and the minutes, all required, with who recorded it and
-- when (the caller's clock). It is only ever added: the web may insert and read, never change or delete
-- (storage/roles.py), and the trigger below checks the recorder's level against the area's, whoever holds
-- the web's grant.
CREATE TABLE area_summons (
    id           bigserial PRIMARY KEY,
    level        text NOT NULL CHECK (level IN ('county', 'township')),
    county       text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    area         text NOT NULL CHECK (area ~ '^[0-9]{6}([0-9]{3})?$'),
    period       text NOT NULL CHECK (period ~ '^20[0-9]{2}(-Q[1-4])?$'),  -- the assessment it was read on
    held_on      date NOT NULL,
    people       text NOT NULL CHECK (length(btrim(people)) BETWEEN 1 AND 500),
    minutes      text NOT NULL CHECK (length(btrim(minutes)) BETWEEN 1 AND 4000),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    CONSTRAINT summons_area CHECK (
        (level = 'county' AND area = county) OR (level = 'township' AND length(area) = 9 AND left(area, 6) = county)
    )
);
CREATE INDEX area_summons_county ON area_summons (county, held_on DESC);

CREATE FUNCTION area_summons_checked() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    u record;
BEGIN
    SELECT role, scope_county, scope_township, disabled INTO u FROM users WHERE username = NEW.recorded_by;
    IF u IS NULL OR u.disabled OR u.role NOT IN ('inspector', 'admin') THEN
        RAISE EXCEPTION 'only an inspector (or an admin) records a summons' USING ERRCODE = 'check_violation';
    END IF;
    -- the city (a city inspector, an admin) summons counties and townships; a county its own townships
    IF u.role = 'inspector' AND u.scope_county IS NOT NULL
       AND (NEW.level = 'county' OR u.scope_township IS NOT NULL OR u.scope_county <> NEW.county) THEN
        RAISE EXCEPTION 'a summons comes from the level above the area' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER area_summons_checked BEFORE INSERT ON area_summons
    FOR EACH ROW EXECUTE FUNCTION area_summons_checked();
