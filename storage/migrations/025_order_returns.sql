-- A returned order gets a new due date (issue #37 item 4). `due_at` becomes the due date in force (what
-- 督办 and "overdue" judge by), moved by the reviewer who sends an answer back; `first_due_at` keeps the
-- original, which decides the month an order counts in and whether it was answered on time
-- (contract/rectification.py). Every order so far has its original due date in force.
ALTER TABLE rectification_orders ADD COLUMN first_due_at timestamptz;
UPDATE rectification_orders SET first_due_at = due_at;
ALTER TABLE rectification_orders ALTER COLUMN first_due_at SET NOT NULL;
CREATE INDEX ON rectification_orders (first_due_at);
