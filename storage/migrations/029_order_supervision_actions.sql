-- 督办 that acts (issue #40 item 1): from a 督办 list an inspector above the issuing level urges the
-- responsible level (催办: a message through the notification outbox) or records a summons (约谈: its date,
-- the people summoned and the minutes). Both are steps of the order's history, like every other step.
-- An answered order left unreviewed past its review period now climbs the ladder as an unanswered one
-- does (supervision/orders.py): the government side's own delay is visible up the chain.
ALTER TABLE rectification_history DROP CONSTRAINT rectification_history_action_check;
ALTER TABLE rectification_history ADD CONSTRAINT rectification_history_action_check
    CHECK (action IN ('issued', 'answered', 'returned', 'accepted', 'escalated', 'urged', 'summoned'));
