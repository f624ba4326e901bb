-- Revoked JWTs: a token by its jti until it expires, or every token of a
-- subject issued before an instant; per issuer.
CREATE TABLE m2m_auth_jwt_revocations (
    issuer TEXT   NOT NULL,
    kind   TEXT   NOT NULL CHECK (kind IN ('jti', 'sub')),
    value  TEXT   NOT NULL,
    at     BIGINT NOT NULL, -- jti: denied until; sub: tokens issued before; microseconds since the Unix epoch
    PRIMARY KEY (issuer, kind, value)
);
