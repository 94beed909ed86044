-- Departments (部门, issue #40 item 6 and issue #39 item 5). The plan divides the inspection of a childcare
-- facility between 卫健 (health, the lead), 消防 (fire), 市场监管 (market: food), 公安 (police: 技防),
-- 教育 (education: 托幼一体 only) and 卫生保健 (health_care: 妇幼保健 / 疾控 / 卫生监督 institutes).
-- Every account, inspection and order has one; 'health' for everything that exists (CareWatch knew only
-- 卫健's inspectors and checklist until now), so nothing changes for them. Each department has its
-- checklist (contract/inspection.py CHECKLISTS) and issues its own orders (supervision/departments.py).
-- What the database holds too, whatever a page lets through:
-- - a department never changes on an inspection or an order once written;
-- - an inspector signs (and seconds) only a record of their own department;
-- - an order of a record is that record's department, and an inspector issues only their department's.
ALTER TABLE users ADD COLUMN department text NOT NULL DEFAULT 'health'
    CHECK (department IN ('health', 'fire', 'market', 'police', 'education', 'health_care'));
ALTER TABLE inspections ADD COLUMN department text NOT NULL DEFAULT 'health'
    CHECK (department IN ('health', 'fire', 'market', 'police', 'education', 'health_care'));
ALTER TABLE rectification_orders ADD COLUMN department text NOT NULL DEFAULT 'health'
    CHECK (department IN ('health', 'fire', 'market', 'police', 'education', 'health_care'));

-- the department of an inspector account (NULL: no such account, or not an inspector: an admin is not
-- a department's officer and is not bound here; the application decides what an admin may do)
CREATE FUNCTION inspector_department(who text) RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT department FROM users WHERE username = who AND role = 'inspector'
$fn$;

CREATE FUNCTION inspection_department_checked() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    d text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.department <> OLD.department THEN
        RAISE EXCEPTION 'inspection %: its department does not change', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.joint_id IS DISTINCT FROM OLD.joint_id THEN
        RAISE EXCEPTION 'inspection %: its joint inspection does not change', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'INSERT' AND NEW.joint_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM inspections l WHERE l.id = NEW.joint_id AND l.joint_id IS NULL
        AND l.facility_id = NEW.facility_id AND l.planned_for = NEW.planned_for AND l.status = 'planned') THEN
        RAISE EXCEPTION 'a part of joint inspection % is of its facility and day, planned while it is', NEW.joint_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.signed_by IS NOT NULL AND NEW.signed_by IS DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD.signed_by END) THEN
        d := inspector_department(NEW.signed_by);
        IF d IS NOT NULL AND d <> NEW.department THEN
            RAISE EXCEPTION 'inspection % is of %: % of % does not sign it', NEW.id, NEW.department, NEW.signed_by, d
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.second_inspector IS NOT NULL
       AND NEW.second_inspector IS DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD.second_inspector END) THEN
        d := inspector_department(NEW.second_inspector);
        IF d IS NOT NULL AND d <> NEW.department THEN
            RAISE EXCEPTION 'inspection % is of %: % of % is not its second officer', NEW.id, NEW.department,
                NEW.second_inspector, d USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER inspection_department_checked BEFORE INSERT OR UPDATE ON inspections
    FOR EACH ROW EXECUTE FUNCTION inspection_department_checked();

CREATE FUNCTION order_department_checked() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    d text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.department <> OLD.department THEN
            RAISE EXCEPTION 'order %: its department does not change', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.inspection_id IS NOT NULL THEN
        SELECT department INTO d FROM inspections WHERE id = NEW.inspection_id;
        IF d <> NEW.department THEN
            RAISE EXCEPTION 'inspection % is of %: its findings are orders of %, not %', NEW.inspection_id, d, d,
                NEW.department USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    d := inspector_department(NEW.issued_by);
    IF d IS NOT NULL AND d <> NEW.department THEN
        RAISE EXCEPTION '% of % does not issue an order of %', NEW.issued_by, d, NEW.department
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER order_department_checked BEFORE INSERT OR UPDATE OF department ON rectification_orders
    FOR EACH ROW EXECUTE FUNCTION order_department_checked();
CREATE INDEX users_department ON users (department) WHERE role = 'inspector';

-- Joint inspections (联合检查): one visit planned for several departments. The planner's department's
-- inspection leads (joint_id NULL); each other department's part is an inspection of its own (its
-- checklist, its two officers of that department, its orders) whose joint_id names the lead: same facility,
-- same day, one part per department. The joint inspection is signed when every part is (read, not stored).
ALTER TABLE inspections ADD COLUMN joint_id bigint REFERENCES inspections(id) ON DELETE CASCADE;
CREATE UNIQUE INDEX inspections_joint_part ON inspections ((coalesce(joint_id, id)), department);
CREATE INDEX inspections_joint ON inspections (joint_id) WHERE joint_id IS NOT NULL;
