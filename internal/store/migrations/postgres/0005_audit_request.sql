-- 0005: the audit log records every admin API call: the request (method
-- and route), the status answered and the caller's address, also for
-- refused calls.
ALTER TABLE audit_log ADD COLUMN request TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN source TEXT NOT NULL DEFAULT '';
