//! The `/user` namespace: what a connected socket can ask for.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tracing::{debug, field, info, instrument, warn, Span};

use super::auth::{AuthError, AuthPayload};
use super::offline;
use super::protocol::{
    AUTHENTICATE, AUTHENTICATED, AUTH_ERROR, DEAUTHENTICATE, DEAUTHENTICATED, NO_ARGS,
};
use super::Gateway;

/// Sockets connected to `/user` in this process, authenticated or not.
const SOCKETS_GAUGE: &str = crate::meters::name::SOCKET_CONNECTIONS;

pub async fn connected(socket: SocketRef) {
    debug!(socket = %socket.id, transport = ?socket.transport_type(), "socket connected");
    metrics::gauge!(SOCKETS_GAUGE).increment(1.0);
    socket.on(AUTHENTICATE, authenticate);
    socket.on(DEAUTHENTICATE, deauthenticate);
    socket.on_disconnect(disconnected);
}

/// `authenticate` with the login object: `authenticated`, then any missed job events; or
/// `auth-error` with the reason. A socket is what its last attempt says: a failed attempt
/// also ends an earlier authentication.
#[instrument(skip_all, fields(socket = %socket.id, user_id = field::Empty))]
async fn authenticate(
    socket: SocketRef,
    State(gateway): State<Arc<Gateway>>,
    TryData(payload): TryData<Value>,
) {
    let checked = match payload {
        Ok(payload) => match AuthPayload::try_from(&payload) {
            Ok(payload) => gateway.authenticator.authenticate(&payload).await,
            Err(reason) => Err(reason),
        },
        Err(_) => Err(AuthError::WrongToken),
    };
    let claims = match checked {
        Ok(claims) => claims,
        Err(reason) => return refuse(&gateway, &socket, reason).await,
    };
    Span::current().record("user_id", claims.id);
    if let Err(error) = gateway.rooms.enter(&socket, claims.clone()).await {
        warn!(%error, "cannot bind the user's events to this node");
        return refuse(&gateway, &socket, AuthError::Unavailable).await;
    }
    if !socket.connected() {
        // It disconnected while we were binding, possibly before its disconnect handler could
        // find it authenticated: undo, or the binding would outlive it.
        gateway.rooms.leave(&socket).await;
        return;
    }
    info!("socket authenticated");
    let _ = socket.emit(AUTHENTICATED, &NO_ARGS);
    offline::deliver_missed(&gateway, &socket, &claims).await;
}

async fn refuse(gateway: &Gateway, socket: &SocketRef, reason: AuthError) {
    gateway.rooms.leave(socket).await;
    debug!(%reason, "authentication refused");
    let _ = socket.emit(AUTH_ERROR, &reason.to_string());
}

/// `deauthenticate`: the socket stops receiving events; acked, then `deauthenticated`.
#[instrument(skip_all, fields(socket = %socket.id, user_id = field::Empty))]
async fn deauthenticate(socket: SocketRef, State(gateway): State<Arc<Gateway>>, ack: AckSender) {
    if let Some(claims) = gateway.rooms.leave(&socket).await {
        Span::current().record("user_id", claims.id);
        info!("socket deauthenticated");
    }
    let _ = ack.send(&NO_ARGS);
    let _ = socket.emit(DEAUTHENTICATED, &NO_ARGS);
}

#[instrument(skip_all, fields(socket = %socket.id, user_id = field::Empty))]
async fn disconnected(
    socket: SocketRef,
    State(gateway): State<Arc<Gateway>>,
    reason: DisconnectReason,
) {
    metrics::gauge!(SOCKETS_GAUGE).decrement(1.0);
    if let Some(claims) = gateway.rooms.forget(socket.id).await {
        Span::current().record("user_id", claims.id);
        debug!(?reason, "authenticated socket disconnected");
    }
}
