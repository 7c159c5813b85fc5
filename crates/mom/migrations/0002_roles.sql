-- Roles (`user`, `admin`) and the indexes behind job paging and the admins' job search.

ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user'
    CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));

-- A user's jobs by status, newest first (`GET /job/my?status=`).
CREATE INDEX jobs_owner_status_idx ON jobs (owner_id, status, id DESC);
-- Admin search: every filter is optional and results are paged by id, newest first.
CREATE INDEX jobs_status_id_idx ON jobs (status, id DESC);
CREATE INDEX jobs_created_at_idx ON jobs (created_at);
-- `details @> '[{"method": "add"}]'`: jobs with a step of that method.
CREATE INDEX jobs_details_idx ON jobs USING gin (details jsonb_path_ops);
-- Failure reason substring (ILIKE '%…%'), only over failed jobs.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX jobs_error_trgm_idx ON jobs USING gin (error gin_trgm_ops) WHERE error IS NOT NULL;
