//! The periodic re-check of authenticated sockets: a token that expired or a session closed
//! without an event reaching this node (Redis key expiry, a node that was down) still ends
//! the socket's authentication within one period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::auth::AuthError;
use super::delivery::refuse;
use super::protocol::NAMESPACE;
use super::Gateway;

/// Sessions checked in Redis at once.
const CONCURRENT_CHECKS: usize = 32;

pub async fn run(
    gateway: Arc<Gateway>,
    io: SocketIo,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => recheck_all(&gateway, &io).await,
        }
    }
}

async fn recheck_all(gateway: &Gateway, io: &SocketIo) {
    let Some(namespace) = io.of(NAMESPACE) else {
        return;
    };
    // Many sockets share a session (tabs of one browser): check each session once.
    let mut sessions: HashMap<(String, i32, i64), Vec<_>> = HashMap::new();
    for (sid, claims) in gateway.rooms.snapshot() {
        sessions
            .entry((claims.sid.clone(), claims.id, claims.exp))
            .or_default()
            .push((sid, claims));
    }
    let checked = sessions.len();
    let refused: Vec<_> = futures_util::stream::iter(sessions.into_values())
        .map(|sockets| async move {
            let verdict = gateway.authenticator.recheck(&sockets[0].1).await;
            (sockets, verdict)
        })
        .buffer_unordered(CONCURRENT_CHECKS)
        .collect()
        .await;
    for (sockets, verdict) in refused {
        let reason = match verdict {
            Ok(()) | Err(AuthError::Unavailable) => continue, // Redis down is no reason to drop anyone.
            Err(reason) => reason,
        };
        for (sid, claims) in sockets {
            // Skip a socket that authenticated again since the snapshot.
            if gateway.rooms.claims(sid).as_ref() != Some(&claims) {
                continue;
            }
            match namespace.get_socket(sid) {
                Some(socket) => refuse(gateway, &socket, reason).await,
                None => drop(gateway.rooms.forget(sid).await),
            }
        }
    }
    debug!(
        sessions = checked,
        users = gateway.rooms.user_count(),
        "re-checked authenticated sockets"
    );
}
