-- Cancelled jobs: a fifth status, final like `done` and `failed`, and the request that
-- cancelled the job, so a retried cancel (same `Idempotency-Key`) finds its own outcome.

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled'));

ALTER TABLE jobs ADD COLUMN cancel_request_id text
    CONSTRAINT jobs_cancel_request_id_key UNIQUE;

-- Offline owners get `job:cancelled` on their next login, as they get `job:done`.
DROP INDEX jobs_unnotified_idx;
CREATE INDEX jobs_unnotified_idx ON jobs (owner_id)
    WHERE NOT notified AND status IN ('done', 'failed', 'cancelled');
