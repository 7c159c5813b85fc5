//! The dead-letter keeper: consumes the dead-letter queue of each of mom's work queues and
//! stores every dead letter in PostgreSQL, where admins can list, replay and discard them
//! (RabbitMQ can neither page a queue newest first nor take one message out of its middle).
//!
//! It lives in the worker and hands its writes to the worker's [`Committer`], like the
//! stalled-job sweep: the db queue's commands would take a bus round trip to reach the same
//! committer, and a dead letter of the db queue must not depend on the db queue. A delivery is
//! acked only after the commit that stored it; if the commit fails, the dead letter goes back
//! to its queue and comes again a second later.

use mom_bus::{Context, Handler, HandlerError, RawBody};

use super::commit::{Committer, JobWrite};
use crate::domain::dead_letter::{DeadLetter, Origin};

pub struct Keeper {
    /// The work queue whose dead letters this keeper takes.
    queue: String,
    origin: Origin,
    committer: Committer,
}

impl Keeper {
    pub fn new(queue: &str, origin: Origin, committer: Committer) -> Self {
        Self {
            queue: queue.to_owned(),
            origin,
            committer,
        }
    }
}

impl Handler for Keeper {
    type Message = RawBody;
    type Reply = ();

    async fn handle(&self, body: RawBody, context: Context) -> Result<(), HandlerError> {
        let dead = DeadLetter::from_delivery(&self.queue, self.origin, &body.0, &context);
        tracing::debug!(queue = %self.queue, kind = %dead.kind, message_id = %dead.message_id, "keeping a dead letter");
        self.committer
            .write(
                JobWrite::KeepDeadLetter(Box::new(dead)),
                context.traceparent.clone(),
            )
            .await
            .map(drop)
            .map_err(HandlerError::retry)
    }
}
