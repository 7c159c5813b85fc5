//! Every queue, exchange, routing key and event name of mom, in one place.

use std::time::Duration;

use mom_bus::{Exchange, RetryPolicy, WorkQueue};

/// Socket event names shared by the worker (which publishes them) and the gateway.
pub mod event {
    pub const JOB_PROGRESS: &str = "job:progress";
    pub const JOB_DONE: &str = "job:done";
    pub const JOB_FAILED: &str = "job:failed";
    pub const JOB_CANCELLED: &str = "job:cancelled";
    /// A session was closed (logout, renew): sockets using it must stop receiving.
    pub const SESSION_REVOKED: &str = "session:revoked";
}

/// The names of one mom system on a broker.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Deferred database writes: step records, failures, "notified" marks.
    pub db: WorkQueue,
    /// Database writes a caller waits for (RPC: register, create or cancel a job, act on dead
    /// letters), on a queue and consumer of their own: behind a backlog of step results on
    /// `db`, an RPC would wait for a free slot of that consumer's prefetch, which priority
    /// cannot give it.
    pub rpc: WorkQueue,
    /// Math steps: slow external calls, many in flight, retried with backoff.
    pub math: WorkQueue,
    /// Job and session events, routed by user.
    pub events: Exchange,
}

impl Topology {
    /// `math_retry` is the operator's (`MATH_ATTEMPTS`, `MATH_RETRY_INITIAL_MS`); the db
    /// queue's policy is fixed, since its failures are the database's, not a remote's.
    pub fn new(prefix: &str, math_retry: RetryPolicy) -> Self {
        let db_retry = RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        };
        Self {
            db: WorkQueue::new(format!("{prefix}db")).with_retry(db_retry.clone()),
            rpc: WorkQueue::new(format!("{prefix}db.rpc")).with_retry(db_retry),
            math: WorkQueue::new(format!("{prefix}math")).with_retry(math_retry),
            events: Exchange::topic(format!("{prefix}events")),
        }
    }

    /// Which work queue `name` is, for what its dead letters mean.
    pub fn origin(&self, name: &str) -> Option<crate::domain::dead_letter::Origin> {
        use crate::domain::dead_letter::Origin;
        if name == self.db.name || name == self.rpc.name {
            Some(Origin::Db)
        } else if name == self.math.name {
            Some(Origin::Math)
        } else {
            None
        }
    }

    /// Every work queue, for health and the System page.
    pub fn queues(&self) -> [&WorkQueue; 3] {
        [&self.rpc, &self.db, &self.math]
    }
}

/// The routing key of cancel signals on the events exchange. Every worker process binds it
/// on its own exclusive queue, so each hears every cancel; socket nodes bind only `user.*`.
pub const CANCEL_SIGNAL_KEY: &str = "signal.job.cancel";
/// The AMQP `type` of a cancel signal.
pub const CANCEL_SIGNAL_KIND: &str = "job.cancel";

/// The routing key of a user's events.
pub fn user_key(user_id: i32) -> String {
    format!("user.{user_id}")
}
