-- Dead letters: every message a work queue gave up on, kept by the worker's dead-letter keeper
-- so admins can list them newest first, filter, replay and discard them (RabbitMQ can do
-- none of that with a queue). Payloads are stored with their secrets redacted.

CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    -- The work queue it came from; a replay publishes it there again.
    queue           text        NOT NULL,
    -- The message's AMQP `type` (`math.step`, `job.recordStep`, …).
    kind            text        NOT NULL,
    -- The message's id; with the queue, what makes a redelivered dead letter the same row.
    message_id      text        NOT NULL,
    reason          text        NOT NULL,
    attempts        integer     NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    -- The job the payload names, if any.
    job_id          integer,
    -- The JSON body, secrets redacted; NULL when the body was not JSON.
    payload         jsonb,
    -- Why this dead letter cannot be replayed (a redacted secret, a body that is not JSON);
    -- NULL when it can.
    not_replayable  text,
    -- What a replay needs besides the payload.
    priority        smallint    NOT NULL,
    traceparent     text,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dead_letters_message_key UNIQUE (queue, message_id)
);

-- Newest first, per queue and per job; reasons searched by substring.
CREATE INDEX dead_letters_queue_idx ON dead_letters (queue, id DESC);
CREATE INDEX dead_letters_job_idx ON dead_letters (job_id, id DESC) WHERE job_id IS NOT NULL;
CREATE INDEX dead_letters_reason_trgm_idx ON dead_letters USING gin (reason gin_trgm_ops);
