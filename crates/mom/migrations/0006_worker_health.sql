-- Each worker process's consumers as its bus counts them (attached, in flight, handled,
-- retried, dead-lettered, stall recoveries), reported every few seconds, so the System page
-- shows every worker's health wherever the workers run. A row not refreshed for a while
-- belongs to a process that is gone.
CREATE TABLE worker_health (
    process     text        PRIMARY KEY,
    consumers   jsonb       NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now()
);
