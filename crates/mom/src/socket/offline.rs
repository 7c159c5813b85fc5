//! Missed events: final job events that happened while their owner had no socket anywhere.
//!
//! Right after `authenticated`, the socket is sent every finished job the db worker has not
//! marked notified. Nothing falls between this and live delivery: the user's key is bound
//! before the query runs, and a job is committed as finished before its event is published,
//! so an event published before the binding existed is found by the query. One that is both
//! published after the binding and committed before the query arrives twice; clients take
//! events by job id, and at-least-once is the rule everywhere else too.

use socketioxide::extract::SocketRef;
use tracing::{debug, warn};

use super::Gateway;
use crate::auth::Claims;
use crate::domain::JobStatus;
use crate::store;
use crate::topology::event;

pub async fn deliver_missed(gateway: &Gateway, socket: &SocketRef, claims: &Claims) {
    let jobs = match store::jobs::unnotified(&gateway.pool, claims.id).await {
        Ok(jobs) => jobs,
        Err(error) => {
            // They stay unnotified, so the next login tries again.
            warn!(%error, "cannot read missed job events");
            return;
        }
    };
    if jobs.is_empty() {
        return;
    }
    let owner = claims.user();
    let mut sent = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        let kind = match job.status {
            JobStatus::Done => {
                // As in a live `job:done`: the per-step results, in order.
                job.results = Some(job.step_results());
                event::JOB_DONE
            }
            JobStatus::Failed => event::JOB_FAILED,
            JobStatus::Queued | JobStatus::Running => continue,
        };
        job.owner = Some(owner.clone());
        if socket.emit(kind, &job).is_ok() {
            sent.push(job.id);
        }
    }
    debug!(jobs = sent.len(), "sent missed job events");
    gateway.notifier.notified(sent);
}
