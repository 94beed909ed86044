-- The alert workers send themselves probes through the broker on cw/v1/_probe/{client id}, to know how
-- far they have judged their input (CONTRACT §4, the engine's own clock); contract/broker_acl.py
-- allows it in Mosquitto's ACL, and this view says the same for EMQX. The rest is 014's view as it was.
CREATE OR REPLACE VIEW broker_acl AS
SELECT username, 'allow' AS permission, 'subscribe' AS action, 'cw/v1/#' AS topic
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'service' AND role IN ('ingest', 'alerts')
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/+/_alerts'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'service' AND role = 'alerts'
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/_probe/#'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'service' AND role = 'alerts'
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/#'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'service' AND role = 'simulator'
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/' || facility_id || '/#'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'facility'
UNION ALL
SELECT username, 'allow', 'subscribe', 'cw/v1/' || facility_id || '/_alerts'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'facility'
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/' || facility_id || '/' || device_id || '/#'
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'device';
