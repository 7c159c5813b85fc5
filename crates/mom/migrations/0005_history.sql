-- The System page's history (`GET /system/history`): jobs finished per minute over the last
-- hour, found by range on finished_at. Partial, so a job's updates before it ends add nothing.
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
