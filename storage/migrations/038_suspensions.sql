-- 督办 that acts, the rest (issue #40 item 1): 批示, 责令停业整改, and the receipt's steps in the history.
--
-- 批示 ('instructed'): a leader's written instruction on an open order, from above its issuing level, a step
-- of the order's history like 催办. 'received': the facility's 签收 (order_receipts, migration 037) also
-- written as a step of the history. 'receipt_late': the order was not acknowledged within
-- contract.rectification.RECEIPT_WITHIN; its issuing level is told once (the alert service's ticker writes
-- it; the unique index below makes it once whatever runs twice).
ALTER TABLE rectification_history DROP CONSTRAINT rectification_history_action_check;
ALTER TABLE rectification_history ADD CONSTRAINT rectification_history_action_check
    CHECK (action IN ('issued', 'answered', 'returned', 'accepted', 'escalated', 'urged', 'summoned',
                      'recheck', 'extension_requested', 'extended', 'extension_rejected',
                      'instructed', 'received', 'receipt_late'));
CREATE UNIQUE INDEX rectification_history_once ON rectification_history (order_id, action)
    WHERE action IN ('received', 'receipt_late');

-- 责令停业整改: a county or city inspector in scope (or an admin) orders a facility to suspend operation
-- pending rectification, with reasons and optionally the orders it rests on. It has no end date: it is
-- lifted only by the issuing level or above, with a reason, naming a 复查 (an on-site re-inspection of the
-- facility signed by two officers after the suspension, that failed nothing). Nothing else about it changes and it is
-- never deleted (the web's grant: insert, and the lift's four columns; the trigger below checks each
-- step against the users table, so the web role cannot write one for an operator either).
-- A suspension closes no day: the alert engine and the credit evaluation read the opening hours, which
-- a suspension does not touch (storage/suspensions.py).
CREATE TABLE facility_suspensions (
    id            bigserial PRIMARY KEY,
    facility_id   text NOT NULL REFERENCES facilities(id),
    reasons       text NOT NULL CHECK (length(btrim(reasons)) BETWEEN 4 AND 2000),
    order_ids     bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(order_ids) <= 20),
    issued_by     text NOT NULL,
    issued_level  text NOT NULL CHECK (issued_level IN ('county', 'city')),
    issued_at     timestamptz NOT NULL,
    lifted_by     text,
    lifted_at     timestamptz,
    lift_reason   text CHECK (length(lift_reason) <= 2000),
    recheck_inspection_id bigint REFERENCES inspections(id),
    CONSTRAINT suspension_lifted CHECK (
        (lifted_at IS NULL) = (lifted_by IS NULL)
        AND (lifted_at IS NULL) = (recheck_inspection_id IS NULL)
        AND (lifted_at IS NULL OR (lifted_at >= issued_at AND length(btrim(lift_reason)) > 0)))
);
-- one suspension in force per facility
CREATE UNIQUE INDEX facility_suspensions_in_force ON facility_suspensions (facility_id) WHERE lifted_at IS NULL;

-- the level a user acts at, as supervision.orders.level_of says it (NULL: an operator, or no such user)
CREATE FUNCTION carewatch_level_of(who text) RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN u.role = 'admin' THEN 'city'
                WHEN u.role <> 'inspector' THEN NULL
                WHEN u.scope_township IS NOT NULL THEN 'township'
                WHEN u.scope_county IS NOT NULL THEN 'county'
                ELSE 'city' END
    FROM users u WHERE u.username = who AND NOT u.disabled
$fn$;

CREATE FUNCTION facility_suspension_steps() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    fac record;
    who record;
    lvl text;
    insp record;
BEGIN
    SELECT county, township INTO fac FROM facilities WHERE id = NEW.facility_id;
    IF TG_OP = 'INSERT' THEN
        IF NEW.lifted_at IS NOT NULL THEN
            RAISE EXCEPTION 'a suspension is ordered in force' USING ERRCODE = 'check_violation';
        END IF;
        SELECT role, scope_county INTO who FROM users WHERE username = NEW.issued_by;
        lvl := carewatch_level_of(NEW.issued_by);
        IF lvl IS NULL OR lvl = 'township' OR lvl <> NEW.issued_level
           OR (who.role = 'inspector' AND who.scope_county IS NOT NULL AND who.scope_county <> fac.county) THEN
            RAISE EXCEPTION 'only a county or city inspector in scope (or an admin) orders a suspension'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    -- an update is the lift, once; nothing that was ordered changes
    IF OLD.lifted_at IS NOT NULL THEN
        RAISE EXCEPTION 'suspension % is already lifted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.facility_id <> OLD.facility_id OR NEW.reasons <> OLD.reasons OR NEW.order_ids <> OLD.order_ids
       OR NEW.issued_by <> OLD.issued_by OR NEW.issued_level <> OLD.issued_level OR NEW.issued_at <> OLD.issued_at THEN
        RAISE EXCEPTION 'a suspension''s order never changes: it is lifted or stays' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.lifted_at IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT role, scope_county INTO who FROM users WHERE username = NEW.lifted_by;
    lvl := carewatch_level_of(NEW.lifted_by);
    IF lvl IS NULL OR lvl = 'township' OR (lvl = 'county' AND OLD.issued_level = 'city')
       OR (who.role = 'inspector' AND who.scope_county IS NOT NULL AND who.scope_county <> fac.county) THEN
        RAISE EXCEPTION 'only the issuing level or above, in scope, lifts a suspension'
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT facility_id, kind, status, inspected_at, countersigned_at, findings INTO insp
        FROM inspections WHERE id = NEW.recheck_inspection_id;
    IF insp IS NULL OR insp.facility_id <> NEW.facility_id OR insp.kind <> 'visit' OR insp.status <> 'signed'
       OR insp.countersigned_at IS NULL OR insp.inspected_at IS NULL OR insp.inspected_at < OLD.issued_at
       OR EXISTS (SELECT 1 FROM jsonb_each(insp.findings) e WHERE e.value ->> 'result' = 'fail') THEN
        RAISE EXCEPTION 'a suspension is lifted only on an on-site 复查 of the facility after it, signed by two'
            ' officers, that failed nothing' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER facility_suspension_steps BEFORE INSERT OR UPDATE ON facility_suspensions
    FOR EACH ROW EXECUTE FUNCTION facility_suspension_steps();

-- the receipts acknowledged before this migration, as steps of their orders' histories
INSERT INTO rectification_history (order_id, actor, action, note, detail, at)
    SELECT order_id, received_by, 'received', '', '{}', received_at FROM order_receipts;

-- the alert engine reads the suspensions in force (children_during_suspension): it hears of a change as of a
-- registry upload's
CREATE TRIGGER facility_suspensions_changed AFTER INSERT OR UPDATE ON facility_suspensions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();
