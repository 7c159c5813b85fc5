//! System tests: the real services (as `mom up` runs them) against the real RabbitMQ,
//! PostgreSQL and Redis, each test in its own database, queue prefix and Redis prefix.

mod admin;
mod auth;
mod cancel;
mod dead_letters;
mod faults;
#[path = "../common/gated_math.rs"]
mod gated_math;
mod helpers;
mod history;
mod hostile;
mod idempotency;
mod jobs;
mod limits;
mod metrics;
mod paging;
mod pipeline;
mod startup;
