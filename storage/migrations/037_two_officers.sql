-- Two officers on an inspection record, and the facility's receipt of an order (issue #40 item 3).
--
-- A 现场检查记录 is valid only with two law-enforcement officers present. The inspector who records it
-- signs it naming a second inspector (an inspector account whose scope holds the facility); the record is
-- then 'countersign' (待会签) and counts for nothing (coverage, credit, draw results all count 'signed'),
-- until the named second inspector confirms it on their own account: then it is 'signed'. Nobody confirms
-- a record they signed, and only the named inspector confirms (supervision/countersign.py; the checks
-- below hold it in the database too). A record in 待会签 does not change either.
ALTER TABLE inspections DROP CONSTRAINT inspections_status_check;
ALTER TABLE inspections ADD CONSTRAINT inspections_status_check
    CHECK (status IN ('planned', 'countersign', 'signed'));
ALTER TABLE inspections ADD COLUMN second_inspector text;
ALTER TABLE inspections ADD COLUMN countersigned_by text;
ALTER TABLE inspections ADD COLUMN countersigned_at timestamptz;
ALTER TABLE inspections ADD CONSTRAINT two_officers
    CHECK (second_inspector IS NULL OR second_inspector <> signed_by);
ALTER TABLE inspections ADD CONSTRAINT countersigned_by_the_named
    CHECK ((countersigned_by IS NULL) = (countersigned_at IS NULL)
           AND (countersigned_by IS NULL OR countersigned_by = second_inspector));
ALTER TABLE inspections ADD CONSTRAINT countersign_names_second
    CHECK (status <> 'countersign' OR (second_inspector IS NOT NULL AND signed_by IS NOT NULL
                                       AND countersigned_by IS NULL));
-- From now on a signed record has its second officer's confirmation. Records signed by one officer before
-- this migration stay as they were (NOT VALID: the check holds for every row written from now on, and
-- does not rewrite history); contract.md says how they read.
ALTER TABLE inspections ADD CONSTRAINT signed_by_two
    CHECK (status <> 'signed' OR countersigned_by IS NOT NULL) NOT VALID;
CREATE INDEX inspections_awaiting ON inspections (second_inspector) WHERE status = 'countersign';

-- 整改通知 签收: the facility's acknowledgement that it received an order, recorded once, by the
-- facility's operator account, at the server's time (never a time the operator gives). Until then the
-- order reads 未签收; one not acknowledged within supervision/receipts.py's period is flagged to its issuer.
CREATE TABLE order_receipts (
    order_id    bigint PRIMARY KEY REFERENCES rectification_orders(id) ON DELETE CASCADE,
    received_by text NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE FUNCTION order_receipt_checked() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    issued timestamptz;
BEGIN
    SELECT issued_at INTO issued FROM rectification_orders WHERE id = NEW.order_id;
    IF NEW.received_at < issued THEN
        RAISE EXCEPTION 'order % was issued at %: it cannot have been received before', NEW.order_id, issued
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER order_receipt_checked BEFORE INSERT ON order_receipts
    FOR EACH ROW EXECUTE FUNCTION order_receipt_checked();
