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

-- 复查 and extensions (issue #40 item 2; supervision/deadlines.py, supervision/followups.py).
-- A life-safety order (marked by its issuer, or from a critical alert) is due within a day; others within 30.
ALTER TABLE rectification_orders ADD COLUMN life_safety boolean NOT NULL DEFAULT false;
-- Accepting an answer may require a 复查: the order waits in 'recheck' until the re-inspection is signed and
-- the reviewer accepts it (or sends it back); it closes only then.
ALTER TABLE rectification_orders DROP CONSTRAINT rectification_orders_status_check;
ALTER TABLE rectification_orders ADD CONSTRAINT rectification_orders_status_check
    CHECK (status IN ('issued', 'answered', 'returned', 'recheck', 'accepted'));
ALTER TABLE rectification_history DROP CONSTRAINT rectification_history_action_check;
ALTER TABLE rectification_history ADD CONSTRAINT rectification_history_action_check
    CHECK (action IN ('issued', 'answered', 'returned', 'accepted', 'escalated', 'urged', 'summoned',
                      'recheck', 'extension_requested', 'extended', 'extension_rejected'));

CREATE TABLE order_rechecks (
    order_id      bigint NOT NULL REFERENCES rectification_orders(id) ON DELETE CASCADE,
    inspection_id bigint NOT NULL UNIQUE REFERENCES inspections(id) ON DELETE CASCADE,
    planned_by    text NOT NULL,
    planned_at    timestamptz NOT NULL,
    PRIMARY KEY (order_id, inspection_id)
);

-- One extension per order, ever (the primary key): requested by the facility with its reasons, decided
-- once by someone else (the check and the trigger), and only later, never earlier, than the due date then.
CREATE TABLE order_extensions (
    order_id        bigint PRIMARY KEY REFERENCES rectification_orders(id) ON DELETE CASCADE,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    reason          text NOT NULL CHECK (length(btrim(reason)) BETWEEN 4 AND 1000),
    previous_due    timestamptz NOT NULL,
    requested_due   timestamptz NOT NULL CHECK (requested_due > previous_due),
    status          text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected')),
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 1000),
    CONSTRAINT extension_not_own CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CONSTRAINT extension_decided CHECK ((status = 'requested') = (decided_by IS NULL)),
    CONSTRAINT extension_rejected_reason CHECK (status <> 'rejected' OR length(btrim(decision_reason)) > 0)
);
CREATE FUNCTION order_extension_decided_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.status <> 'requested' THEN
        RAISE EXCEPTION 'the extension of order % is already %', OLD.order_id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER order_extension_decided_once BEFORE UPDATE ON order_extensions
    FOR EACH ROW EXECUTE FUNCTION order_extension_decided_once();
