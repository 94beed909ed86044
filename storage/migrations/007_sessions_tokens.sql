-- Sessions end on the server at logout: a session cookie issued before this time is no longer
-- accepted, even though it is still within its 12 h. Tokens may expire.
ALTER TABLE users ADD COLUMN sessions_valid_after timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
