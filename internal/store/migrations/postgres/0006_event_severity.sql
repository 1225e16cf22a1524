-- 0006: an event may carry the severity its source judged (a detector
-- with action alert is high); empty means "from the verdict".
ALTER TABLE events ADD COLUMN severity TEXT NOT NULL DEFAULT '';
