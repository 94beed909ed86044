-- Document numbers (文号) of the printable documents, issue #40 item 4: a county prints and stamps a
-- 整改通知书 and a 现场检查记录 with a number per issuing department, kind and year, e.g.
-- 忻府卫托整〔2026〕12号. A number is allocated once, when the order is issued or the inspection signed,
-- and never reused: `document_sequences` only counts up (its row is locked by the allocation, so two
-- issues at once get two numbers), and a number's row stays when its order or inspection is deleted.
-- The text (the department's short name, 卫托整 / 卫托检) is made from these columns by
-- supervision/documents.py, so a renamed county keeps its numbers.
CREATE TABLE document_sequences (
    department text NOT NULL,  -- 'city', a county code or a township code: the issuer's level over the facility
    kind       text NOT NULL CHECK (kind IN ('order', 'inspection')),
    year       int  NOT NULL CHECK (year BETWEEN 2000 AND 2999),  -- in Xinzhou's time (Asia/Shanghai)
    last_no    int  NOT NULL CHECK (last_no > 0),
    PRIMARY KEY (department, kind, year)
);

CREATE TABLE document_numbers (
    id            bigserial PRIMARY KEY,
    department    text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('order', 'inspection')),
    year          int  NOT NULL,
    seq           int  NOT NULL CHECK (seq > 0),
    order_id      bigint UNIQUE REFERENCES rectification_orders(id) ON DELETE SET NULL,
    inspection_id bigint UNIQUE REFERENCES inspections(id) ON DELETE SET NULL,
    allocated_at  timestamptz NOT NULL,
    UNIQUE (department, kind, year, seq),
    CHECK (order_id IS NULL OR inspection_id IS NULL),
    CHECK ((kind = 'order') = (inspection_id IS NULL))
);

-- Orders issued and inspections signed before this migration get their numbers now, in the order they
-- happened.
INSERT INTO document_numbers (department, kind, year, seq, order_id, allocated_at)
SELECT dept, 'order', yr, row_number() OVER (PARTITION BY dept, yr ORDER BY issued_at, id), id, issued_at
FROM (
    SELECT o.id, o.issued_at,
           CASE o.issued_level WHEN 'city' THEN 'city' WHEN 'county' THEN f.county ELSE f.township END AS dept,
           extract(year FROM o.issued_at AT TIME ZONE 'Asia/Shanghai')::int AS yr
    FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id
) x;
INSERT INTO document_numbers (department, kind, year, seq, inspection_id, allocated_at)
SELECT dept, 'inspection', yr, row_number() OVER (PARTITION BY dept, yr ORDER BY inspected_at, id), id, inspected_at
FROM (
    SELECT i.id, i.inspected_at,
           CASE i.level WHEN 'city' THEN 'city' WHEN 'county' THEN f.county ELSE f.township END AS dept,
           extract(year FROM i.inspected_at AT TIME ZONE 'Asia/Shanghai')::int AS yr
    FROM inspections i JOIN facilities f ON f.id = i.facility_id
    WHERE i.status = 'signed'
) x;
INSERT INTO document_sequences (department, kind, year, last_no)
SELECT department, kind, year, max(seq) FROM document_numbers GROUP BY department, kind, year;
