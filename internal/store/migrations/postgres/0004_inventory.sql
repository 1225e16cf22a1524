-- 0004: snapshots of the API inventory (internal/observe/inventory), one
-- row per API: the inventory is kept in memory and written here
-- periodically so that it survives restarts. data is the gzip-compressed
-- JSON snapshot; updated_ns is Unix nanoseconds (UTC).
CREATE TABLE inventory (
    api         TEXT    PRIMARY KEY,
    updated_ns  BIGINT  NOT NULL,
    data        BYTEA   NOT NULL
);
