//! Missed events: final job events (`job:done`, `job:failed`, `job:cancelled`) that happened
//! while their owner had no socket anywhere, and those a node missed while its event
//! subscription was being rebuilt.
//!
//! Right after `authenticated`, the socket is sent every finished job the db worker has not
//! marked notified. Nothing falls between this and live delivery: the user's key is bound
//! before the query runs, and a job is committed as finished before its event is published,
//! so an event published before the binding existed is found by the query. One that is both
//! published after the binding and committed before the query arrives twice; clients take
//! events by job id, and at-least-once is the rule everywhere else too.

use std::collections::BTreeMap;
use std::time::Duration;

use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tracing::{debug, info, warn};

use super::protocol::{NAMESPACE, NO_ARGS, RESYNC};
use super::Gateway;
use crate::auth::Claims;
use crate::domain::{JobStatus, JobView};
use crate::store;
use crate::topology::event;

/// Beyond the time the subscription was away: a job committed as finished just before the
/// loss may have had its event published (by the relay, or its sweep after the outbox grace)
/// during it.
const CATCH_UP_MARGIN: Duration = Duration::from_secs(60);

pub async fn deliver_missed(gateway: &Gateway, socket: &SocketRef, claims: &Claims) {
    let jobs = match store::jobs::unnotified(&gateway.pool, claims.id).await {
        Ok(jobs) => jobs,
        Err(error) => {
            // They stay unnotified, so the next login tries again.
            warn!(%error, "cannot read missed job events");
            return;
        }
    };
    send_final(gateway, std::slice::from_ref(socket), claims, jobs);
}

/// After this node's event queue was rebuilt, `detached_for` after the old one was lost:
/// tells every authenticated socket to resync, then sends each user the final state of every
/// job that ended in that time (or is still unnotified). The new queue was bound before this
/// runs, so a job ending later arrives live; one ending in between may arrive twice.
pub async fn catch_up(gateway: &Gateway, io: &SocketIo, detached_for: Duration) {
    let Some(namespace) = io.of(NAMESPACE) else {
        return;
    };
    let mut users: BTreeMap<i32, (Claims, Vec<SocketRef>)> = BTreeMap::new();
    for (sid, claims) in gateway.rooms.snapshot() {
        let Some(socket) = namespace.get_socket(sid) else {
            continue;
        };
        let _ = socket.emit(RESYNC, &NO_ARGS);
        users
            .entry(claims.id)
            .or_insert_with(|| (claims, Vec::new()))
            .1
            .push(socket);
    }
    info!(
        users = users.len(),
        ?detached_for,
        "event subscription restored; catching up"
    );
    let window = detached_for + CATCH_UP_MARGIN;
    for (user_id, (claims, sockets)) in users {
        match store::jobs::ended_since(&gateway.pool, user_id, window).await {
            Ok(jobs) => send_final(gateway, &sockets, &claims, jobs),
            Err(error) => warn!(%error, user_id, "cannot read the jobs to catch up on"),
        }
    }
}

/// Sends each finished job's final event to `sockets`, and marks those that reached one
/// notified.
fn send_final(gateway: &Gateway, sockets: &[SocketRef], claims: &Claims, jobs: Vec<JobView>) {
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
            JobStatus::Cancelled => event::JOB_CANCELLED,
            JobStatus::Queued | JobStatus::Running => continue,
        };
        job.owner = Some(owner.clone());
        let reached = sockets
            .iter()
            .filter(|socket| socket.emit(kind, &job).is_ok())
            .count();
        if reached > 0 {
            sent.push(job.id);
        }
    }
    debug!(jobs = sent.len(), "sent missed job events");
    gateway.notifier.notified(sent);
}
