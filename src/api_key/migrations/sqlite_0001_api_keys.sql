-- API keys: never the key itself, only its SHA-256 digest.
CREATE TABLE m2m_auth_api_keys (
    key_id      TEXT    NOT NULL PRIMARY KEY,
    digest      BLOB    NOT NULL,          -- SHA-256 of the key
    owner       TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    hint        TEXT    NOT NULL DEFAULT '', -- prefix, first and last 4 characters
    scopes      TEXT    NOT NULL DEFAULT '', -- space-separated
    metadata    TEXT    NOT NULL DEFAULT '{}', -- a JSON object
    created_at  INTEGER NOT NULL,          -- microseconds since the Unix epoch
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    enabled     INTEGER NOT NULL DEFAULT 1,
    rolled_from TEXT
);
CREATE UNIQUE INDEX m2m_auth_api_keys_digest ON m2m_auth_api_keys (digest);
CREATE INDEX m2m_auth_api_keys_owner ON m2m_auth_api_keys (owner, key_id);
