-- API keys: never the key itself, only its SHA-256 digest.
CREATE TABLE m2m_auth_api_keys (
    key_id      TEXT    NOT NULL PRIMARY KEY,
    digest      BYTEA   NOT NULL CHECK (length(digest) = 32), -- SHA-256 of the key
    owner       TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    hint        TEXT    NOT NULL DEFAULT '', -- prefix, first and last 4 characters
    scopes      TEXT    NOT NULL DEFAULT '', -- space-separated
    metadata    JSONB   NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,          -- microseconds since the Unix epoch
    updated_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    rolled_from TEXT
);
CREATE UNIQUE INDEX m2m_auth_api_keys_digest ON m2m_auth_api_keys (digest);
CREATE INDEX m2m_auth_api_keys_owner ON m2m_auth_api_keys (owner, key_id);
