-- 双随机一公开 (issue #40 item 5): published lists, recorded draws, and the planned inspections they made.
--
-- A draw (supervision/draw.py, algorithm cw-draw-1) is stored once with everything a third party needs to
-- re-run it: the published inputs as hashed (`inputs`, `inputs_sha256`), its number in the county (`seq`),
-- its time, the previous draw's seed and the seed derived from them, and what it picked. The web may only
-- add draws and their picks (storage/roles.py): nothing about a draw is changed or deleted afterwards. A
-- second draw for the same county and month is a re-draw: it names the draw it follows and its reason.
CREATE TABLE random_draws (
    id            bigserial PRIMARY KEY,
    county        text NOT NULL CHECK (county ~ '^[0-9]{6}$'),
    seq           int NOT NULL CHECK (seq >= 1),
    algorithm     text NOT NULL CHECK (algorithm = 'cw-draw-1'),
    drawn_by      text NOT NULL,
    drawn_level   text NOT NULL CHECK (drawn_level IN ('county', 'city')),
    drawn_at      timestamptz NOT NULL,
    planned_for   date NOT NULL,
    count         int NOT NULL CHECK (count BETWEEN 1 AND 200),
    inputs        jsonb NOT NULL,
    inputs_sha256 text NOT NULL CHECK (inputs_sha256 ~ '^[0-9a-f]{64}$'),
    previous_seed text CHECK (previous_seed ~ '^[0-9a-f]{64}$'),
    seed          text NOT NULL CHECK (seed ~ '^[0-9a-f]{64}$'),
    picks         jsonb NOT NULL,
    redraw_of     bigint REFERENCES random_draws(id),
    reason        text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    UNIQUE (county, seq),
    -- the first draw of a county has no previous seed; every later one has
    CONSTRAINT draw_chain CHECK ((seq = 1) = (previous_seed IS NULL)),
    -- a re-draw says why
    CONSTRAINT redraw_reason CHECK (redraw_of IS NULL OR length(btrim(reason)) >= 4)
);
CREATE INDEX random_draws_period ON random_draws (county, planned_for);

CREATE TABLE random_draw_picks (
    draw_id       bigint NOT NULL REFERENCES random_draws(id),
    facility_id   text NOT NULL REFERENCES facilities(id),
    inspection_id bigint NOT NULL UNIQUE REFERENCES inspections(id),
    inspector_a   text NOT NULL,
    inspector_b   text NOT NULL,
    PRIMARY KEY (draw_id, facility_id),
    CONSTRAINT two_inspectors CHECK (inspector_a <> inspector_b)
);

-- The inspector list's availability (leave, secondment): an account of the county is in the list unless
-- marked unavailable here. Who changed it and when is published beside the list.
CREATE TABLE draw_availability (
    username   text PRIMARY KEY REFERENCES users(username) ON DELETE CASCADE,
    available  boolean NOT NULL,
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL,
    CONSTRAINT not_own CHECK (changed_by <> username),
    CONSTRAINT unavailable_reason CHECK (available OR length(btrim(reason)) >= 2)
);
