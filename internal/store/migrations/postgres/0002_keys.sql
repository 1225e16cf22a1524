-- 0002: API keys (only their SHA-256 is kept) and revocations of tokens,
-- subjects and API keys. Times are Unix nanoseconds (UTC); 0 means none.
CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    hash        TEXT    NOT NULL,
    tenant      TEXT    NOT NULL DEFAULT '',
    roles       TEXT    NOT NULL DEFAULT '',
    scopes      TEXT    NOT NULL DEFAULT '',
    created_ns  BIGINT  NOT NULL,
    expires_ns  BIGINT  NOT NULL DEFAULT 0,
    revoked_ns  BIGINT  NOT NULL DEFAULT 0,
    disabled    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE revocations (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    created_ns  BIGINT  NOT NULL,
    expires_ns  BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX revocations_expires ON revocations (expires_ns);
