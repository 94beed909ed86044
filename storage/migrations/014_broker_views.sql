-- The broker's view of credentials and ACL, for a broker that reads them from the database (EMQX's
-- PostgreSQL authenticator and authorizer, deploy/scale/): the same rules `carewatch provision`
-- writes into Mosquitto's files (contract/broker_acl.py, acl_file), one place for both. Read by the
-- `carewatch_broker` role only (storage/roles.py), which can read nothing else.

-- EMQX's pbkdf2 check: hex(PBKDF2(mac, secret, salt, iterations, dk_length)) = password_hash, with
-- the raw salt; Mosquitto's `$7$iterations$base64(salt)$base64(hash)` (PBKDF2-SHA512, 64 bytes)
-- holds both. iterations: contract/broker_acl.py PBKDF2_ITERATIONS.
CREATE VIEW broker_users AS
SELECT username,
       encode(decode(split_part(password_hash, '$', 5), 'base64'), 'hex') AS password_hash,
       decode(split_part(password_hash, '$', 4), 'base64') AS salt,
       false AS is_superuser
FROM mqtt_credentials
WHERE revoked_at IS NULL AND password_hash LIKE '$7$%';

-- (username, permission, action, topic) rows; anything not allowed here is denied (no_match = deny).
-- Topics under the default root cw/v1, as `carewatch provision` writes them.
CREATE VIEW broker_acl AS
SELECT username, 'allow' AS permission, 'subscribe' AS action, 'cw/v1/#' AS topic
FROM mqtt_credentials WHERE revoked_at IS NULL AND kind = 'service' AND role IN ('ingest', 'alerts')
UNION ALL
SELECT username, 'allow', 'publish', 'cw/v1/+/_alerts'
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
