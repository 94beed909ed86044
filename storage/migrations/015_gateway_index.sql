-- The overview asks, for each facility in scope, whether its gateway is online. With the gateways
-- found through this index and their state through device_state's primary key, a province (5,000
-- facilities, 196,000 devices) is answered by 10,000 index lookups instead of a hash join over both
-- whole tables: 56 -> 32 ms for the query, measured (EXPLAIN ANALYZE, storage/queries.py facilities).
CREATE INDEX devices_gateway ON devices (facility_id, id) WHERE type = 'gateway';
