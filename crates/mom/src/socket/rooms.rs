//! Which sockets of this node are authenticated, as whom, and the bus bindings that follow.
//!
//! Each authenticated socket is in its user's room and has its claims recorded here. The node's
//! event queue is bound to `user.<id>` while at least one socket of that user is authenticated
//! on this node: the first socket binds, the last one to leave unbinds. Binding changes for one
//! user are serialised (a lock stripe per user id), so a bind and an unbind for the same user
//! can never overtake each other on the way to the broker.

use std::collections::HashMap;
use std::sync::Mutex;

use mom_bus::{BusError, EventBindings};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tracing::{debug, warn};

use super::protocol::user_room;
use crate::auth::Claims;
use crate::topology::user_key;

const STRIPES: usize = 64;

pub struct UserRooms {
    bindings: EventBindings,
    state: Mutex<State>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct State {
    sockets: HashMap<Sid, Claims>,
    /// Authenticated sockets per user; a user is present only with a count above zero.
    users: HashMap<i32, usize>,
}

impl UserRooms {
    pub fn new(bindings: EventBindings) -> Self {
        Self {
            bindings,
            state: Mutex::default(),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Authenticates `socket` as `claims`: binds the user's key if this is their first socket
    /// here, then records the claims and joins the room. Once this returns, events published
    /// for the user reach the socket. A socket that was someone else leaves that user first.
    pub async fn enter(&self, socket: &SocketRef, claims: Claims) -> Result<(), BusError> {
        let user_id = claims.id;
        if self.claims(socket.id).is_some_and(|c| c.id != user_id) {
            self.leave(socket).await;
        }
        let _serial = self.stripe(user_id).lock().await;
        let first = {
            let mut state = self.lock();
            if let Some(known) = state.sockets.get_mut(&socket.id) {
                // Authenticating again as the same user (e.g. a renewed token).
                *known = claims;
                drop(state);
                socket.join(user_room(user_id));
                return Ok(());
            }
            !state.users.contains_key(&user_id)
        };
        if first {
            self.bindings.bind(&user_key(user_id)).await?;
            debug!(user_id, "bound the user's events to this node");
        }
        {
            let mut state = self.lock();
            state.sockets.insert(socket.id, claims);
            *state.users.entry(user_id).or_default() += 1;
        }
        socket.join(user_room(user_id));
        Ok(())
    }

    /// Takes `socket` out of its user's room; unbinds the user if it was their last socket
    /// here. Returns the claims it had, `None` if it was not authenticated.
    pub async fn leave(&self, socket: &SocketRef) -> Option<Claims> {
        let claims = self.forget(socket.id).await?;
        socket.leave(user_room(claims.id));
        Some(claims)
    }

    /// [`UserRooms::leave`] for a socket that is gone (its rooms went with it).
    pub async fn forget(&self, sid: Sid) -> Option<Claims> {
        loop {
            let user_id = self.claims(sid)?.id;
            let _serial = self.stripe(user_id).lock().await;
            let (claims, last) = {
                let mut state = self.lock();
                // It may have changed user while we waited for the stripe: start over.
                match state.sockets.get(&sid) {
                    None => return None,
                    Some(claims) if claims.id != user_id => continue,
                    Some(_) => {}
                }
                let claims = state.sockets.remove(&sid)?;
                let count = state.users.entry(user_id).or_default();
                *count = count.saturating_sub(1);
                let last = *count == 0;
                if last {
                    state.users.remove(&user_id);
                }
                (claims, last)
            };
            if last {
                // A binding left behind only costs events that find no socket here.
                match self.bindings.unbind(&user_key(user_id)).await {
                    Ok(()) => debug!(user_id, "unbound the user's events from this node"),
                    Err(error) => warn!(user_id, %error, "cannot unbind the user's events"),
                }
            }
            return Some(claims);
        }
    }

    /// The claims `sid` authenticated with, if it is authenticated.
    pub fn claims(&self, sid: Sid) -> Option<Claims> {
        self.lock().sockets.get(&sid).cloned()
    }

    /// Every authenticated socket with its claims, at this instant.
    pub fn snapshot(&self) -> Vec<(Sid, Claims)> {
        self.lock()
            .sockets
            .iter()
            .map(|(sid, claims)| (*sid, claims.clone()))
            .collect()
    }

    /// How many users have a socket authenticated here (what this node is bound to).
    pub fn user_count(&self) -> usize {
        self.lock().users.len()
    }

    fn stripe(&self, user_id: i32) -> &tokio::sync::Mutex<()> {
        &self.stripes[user_id.unsigned_abs() as usize % STRIPES]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding this lock (plain map updates).
        self.state.lock().expect("socket registry lock poisoned")
    }
}
