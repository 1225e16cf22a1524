-- 0003: incident response: blocks enforced by the denylist guard, lockdowns
-- of whole APIs, and the audit log of admin actions. Times are Unix
-- nanoseconds (UTC); 0 means none.
CREATE TABLE blocks (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_ns  BIGINT  NOT NULL,
    expires_ns  BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX blocks_expires ON blocks (expires_ns);

CREATE TABLE lockdowns (
    api         TEXT    PRIMARY KEY,
    mode        TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_ns  BIGINT  NOT NULL,
    expires_ns  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns     BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL DEFAULT '',
    before_json TEXT    NOT NULL DEFAULT '',
    after_json  TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_time ON audit_log (time_ns);
