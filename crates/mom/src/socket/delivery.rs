//! Bus events → the sockets of their user on this node.
//!
//! The node's subscription only carries the keys of users with a socket authenticated here
//! (see [`super::rooms`]), so every event that arrives has someone to go to — unless that
//! someone just left, in which case it is dropped. Each socket's token is checked for expiry
//! right before delivery, as the seed did.

use std::sync::Arc;
use std::time::SystemTime;

use mom_bus::{Incoming, Subscription};
use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::auth::{check_expiry, now_secs, AuthError};
use super::protocol::{user_room, AUTH_ERROR, NAMESPACE};
use super::ready::PROBE_PREFIX;
use super::Gateway;
use crate::messages::SessionRevoked;
use crate::topology::event;

/// Delivers events until `shutdown` or the end of the subscription.
pub async fn run(
    gateway: Arc<Gateway>,
    io: SocketIo,
    mut subscription: Subscription,
    shutdown: CancellationToken,
) {
    let mut reattached = subscription.reattachments();
    reattached.mark_unchanged();
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => return,
            Ok(()) = reattached.changed() => {
                let detached_for = reattached.borrow_and_update().detached_for;
                super::offline::catch_up(&gateway, &io, detached_for).await;
                continue;
            }
            incoming = subscription.recv() => match incoming {
                Some(incoming) => incoming,
                None => {
                    info!("the event subscription has ended");
                    return;
                }
            },
        };
        handle(&gateway, &io, incoming).await;
    }
}

#[instrument(skip_all, fields(kind, user_id))]
async fn handle(gateway: &Gateway, io: &SocketIo, incoming: Incoming) {
    let kind = incoming.context.kind.as_deref().unwrap_or("");
    let span = tracing::Span::current();
    span.record("kind", kind);
    if incoming.context.routing_key.starts_with(PROBE_PREFIX) {
        return; // A late copy of the start-up probe.
    }
    let Some(user_id) = user_of(&incoming.context.routing_key) else {
        warn!(routing_key = %incoming.context.routing_key, "event without a user; dropped");
        return;
    };
    span.record("user_id", user_id);
    let Some(namespace) = io.of(NAMESPACE) else {
        return;
    };
    let sockets = namespace.within(user_room(user_id)).sockets();
    match kind {
        event::JOB_PROGRESS | event::JOB_DONE | event::JOB_FAILED | event::JOB_CANCELLED => {
            let Ok(job) = incoming.json::<Value>() else {
                warn!("job event that is not JSON; dropped");
                return;
            };
            let delivered = deliver(gateway, &sockets, kind, &job).await;
            debug!(delivered, "job event");
            if delivered > 0 {
                record_latency(kind, &incoming);
            }
            if delivered > 0 && kind != event::JOB_PROGRESS {
                match job.get("id").and_then(Value::as_i64) {
                    Some(job_id) => gateway.notifier.notified(i32::try_from(job_id).ok()),
                    None => warn!("final job event without a job id"),
                }
            }
        }
        event::SESSION_REVOKED => match incoming.json::<SessionRevoked>() {
            Ok(revoked) => revoke(gateway, &sockets, &revoked).await,
            Err(error) => warn!(%error, "malformed session:revoked event; dropped"),
        },
        other => warn!(kind = other, "unknown event; dropped"),
    }
}

/// Publish → emit of a job event, on the publisher's clock (nodes' clocks are assumed in
/// sync, as NTP keeps them to well under the millisecond buckets that matter here).
fn record_latency(kind: &str, incoming: &Incoming) {
    let Some(sent_at) = incoming.context.sent_at else {
        return;
    };
    let seconds = SystemTime::now()
        .duration_since(sent_at)
        .unwrap_or_default()
        .as_secs_f64();
    // `kind` is one of the job events the caller matched: a bounded label.
    metrics::histogram!(crate::meters::name::EVENT_DELIVERY, "kind" => kind.to_owned())
        .record(seconds);
}

/// Emits `job` to each socket whose token has not expired; returns to how many.
async fn deliver(gateway: &Gateway, sockets: &[SocketRef], kind: &str, job: &Value) -> usize {
    let now = now_secs();
    let mut delivered = 0;
    for socket in sockets {
        let Some(claims) = gateway.rooms.claims(socket.id) else {
            // In the room without claims: it is being taken out right now.
            continue;
        };
        if let Err(reason) = check_expiry(&claims, now) {
            refuse(gateway, socket, reason).await;
            continue;
        }
        if socket.emit(kind, job).is_ok() {
            delivered += 1;
        }
    }
    delivered
}

/// Sockets using the revoked session stop receiving; other sessions of the user are untouched.
async fn revoke(gateway: &Gateway, sockets: &[SocketRef], revoked: &SessionRevoked) {
    for socket in sockets {
        if gateway
            .rooms
            .claims(socket.id)
            .is_some_and(|claims| claims.sid == revoked.sid)
        {
            refuse(gateway, socket, AuthError::OldToken).await;
        }
    }
}

/// Takes the socket out of its user's room and tells it why. It stays connected and may
/// authenticate again. Only the caller that actually took it out tells it, so a socket that
/// two checks refuse at once hears it once.
pub async fn refuse(gateway: &Gateway, socket: &SocketRef, reason: AuthError) {
    if gateway.rooms.leave(socket).await.is_some() {
        debug!(socket = %socket.id, %reason, "socket no longer authenticated");
        let _ = socket.emit(AUTH_ERROR, &reason.to_string());
    }
}

/// The user id of a routing key `user.<id>`.
fn user_of(routing_key: &str) -> Option<i32> {
    routing_key.strip_prefix("user.")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::user_key;

    #[test]
    fn routing_keys_name_their_user() {
        assert_eq!(user_of(&user_key(42)), Some(42));
        assert_eq!(user_of("user."), None);
        assert_eq!(user_of("user.x"), None);
        assert_eq!(user_of("job.42"), None);
    }
}
