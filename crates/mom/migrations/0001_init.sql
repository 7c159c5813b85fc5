-- Users, jobs and the outbox that hands messages to RabbitMQ after a commit.

CREATE TABLE users (
    id            serial PRIMARY KEY,
    first_name    text        NOT NULL,
    last_name     text        NOT NULL,
    -- Stored lowercased by the domain type, so this index is case-insensitive in effect.
    email         text        NOT NULL CONSTRAINT users_email_key UNIQUE,
    password_hash text        NOT NULL,
    -- The RPC message that created the user: a redelivered request finds its own row.
    request_id    text        NOT NULL CONSTRAINT users_request_id_key UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer     NOT NULL DEFAULT 1
);

CREATE TABLE jobs (
    id          serial PRIMARY KEY,
    owner_id    integer     NOT NULL REFERENCES users (id),
    type        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
    details     jsonb       NOT NULL,
    steps_total integer     NOT NULL CHECK (steps_total > 0),
    steps_done  integer     NOT NULL DEFAULT 0,
    error       text,
    request_id  text        NOT NULL CONSTRAINT jobs_request_id_key UNIQUE,
    -- Whether the owner has been sent the final event; offline owners get it on next login.
    notified    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    version     integer     NOT NULL DEFAULT 1
);

CREATE INDEX jobs_owner_id_idx ON jobs (owner_id, id DESC);
CREATE INDEX jobs_unnotified_idx ON jobs (owner_id) WHERE NOT notified AND status IN ('done', 'failed');

-- Messages written in the same transaction as the state change that causes them, published
-- after the commit and deleted once the broker confirmed them. A crash in between leaves the
-- row here for the relay to publish later.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    exchange    text        NOT NULL,
    routing_key text        NOT NULL,
    kind        text        NOT NULL,
    message_id  text        NOT NULL,
    traceparent text,
    priority    smallint    NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
