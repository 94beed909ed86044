-- Rectification orders (整改通知) and their follow-up up the chain (督办), issue #16.
--
-- An inspector orders a facility to put something right by a date: from an alert, an inspection
-- finding or by hand. The facility's operator answers with the measures taken and evidence; the
-- issuing level accepts or sends it back. An order not accepted by its due date is overdue and goes
-- up: township -> county -> city (supervision_level), each step notified and in the history.
-- Acknowledging the alert it came from does not close it: only acceptance does.
CREATE TABLE rectification_orders (
    id                bigserial PRIMARY KEY,
    facility_id       text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    source            text NOT NULL CHECK (source IN ('alert', 'inspection', 'manual')),
    alert_id          bigint REFERENCES alerts(id) ON DELETE SET NULL,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    detail            text NOT NULL DEFAULT '' CHECK (length(detail) <= 4000),
    due_at            timestamptz NOT NULL,
    issued_by         text NOT NULL,
    issued_level      text NOT NULL CHECK (issued_level IN ('township', 'county', 'city')),
    issued_at         timestamptz NOT NULL DEFAULT now(),
    status            text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'answered', 'returned', 'accepted')),
    supervision_level text NOT NULL CHECK (supervision_level IN ('township', 'county', 'city')),
    escalated_at      timestamptz,
    closed_at         timestamptz,
    closed_by         text
);
CREATE INDEX ON rectification_orders (facility_id, issued_at DESC);
CREATE INDEX ON rectification_orders (due_at) WHERE status <> 'accepted';

CREATE TABLE rectification_history (
    id        bigserial PRIMARY KEY,
    order_id  bigint NOT NULL REFERENCES rectification_orders(id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL CHECK (action IN ('issued', 'answered', 'returned', 'accepted', 'escalated')),
    note      text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON rectification_history (order_id, at);

-- Evidence (photos, scanned documents) of an answer: stored in the database with the row that cites it,
-- limited in size and type (web/evidence.py checks the bytes, not only the name).
CREATE TABLE evidence_files (
    id           bigserial PRIMARY KEY,
    history_id   bigint NOT NULL REFERENCES rectification_history(id) ON DELETE CASCADE,
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size_bytes   integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 5242880),
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON evidence_files (history_id);

-- the outbox may carry messages about an order as well as an alert
ALTER TABLE notification_deliveries ADD COLUMN order_id bigint REFERENCES rectification_orders(id) ON DELETE SET NULL;
CREATE UNIQUE INDEX ON notification_deliveries (subscription_id, order_id, event) WHERE order_id IS NOT NULL;
