-- 0001: the events table and the indexes behind the admin API's filters.
-- Times are Unix nanoseconds (UTC) so the schema ports to any SQL engine.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns     BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    request_id  TEXT    NOT NULL DEFAULT '',
    api         TEXT    NOT NULL DEFAULT '',
    operation   TEXT    NOT NULL DEFAULT '',
    method      TEXT    NOT NULL DEFAULT '',
    path        TEXT    NOT NULL DEFAULT '',
    client_ip   TEXT    NOT NULL DEFAULT '',
    principal   TEXT    NOT NULL DEFAULT '',
    guard       TEXT    NOT NULL DEFAULT '',
    rule        TEXT    NOT NULL DEFAULT '',
    category    TEXT    NOT NULL DEFAULT '',
    verdict     TEXT    NOT NULL DEFAULT '',
    mode        TEXT    NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    latency_ns  BIGINT  NOT NULL DEFAULT 0,
    detail      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX events_time       ON events (time_ns);
CREATE INDEX events_guard      ON events (guard, id);
CREATE INDEX events_category   ON events (category, id);
CREATE INDEX events_verdict    ON events (verdict, id);
CREATE INDEX events_principal  ON events (principal, id);
CREATE INDEX events_client_ip  ON events (client_ip, id);
CREATE INDEX events_request_id ON events (request_id);
