//! The gateway's side of the socket.io contract: namespace, event names and room names, as the
//! seed's clients know them.

/// The namespace clients connect to.
pub const NAMESPACE: &str = "/user";

/// Client → server: the login object (`{id, accessToken, …}`).
pub const AUTHENTICATE: &str = "authenticate";
/// Client → server: stop receiving events (optional ack callback).
pub const DEAUTHENTICATE: &str = "deauthenticate";

/// Server → client, no arguments: the socket now receives its user's events.
pub const AUTHENTICATED: &str = "authenticated";
/// Server → client, no arguments: answer to `deauthenticate`.
pub const DEAUTHENTICATED: &str = "deauthenticated";
/// Server → client, one reason string (see [`super::auth::AuthError`]).
pub const AUTH_ERROR: &str = "auth-error";

/// Server → client, no arguments: this node lost its event subscription for a while and
/// events may have gone missing; the final states of jobs that ended meanwhile follow, and a
/// client showing progress should read its jobs again (`GET /job/my`). Not in the seed.
pub const RESYNC: &str = "resync";

/// Emitted as "no arguments": a zero-length tuple is an empty argument list to socketioxide,
/// where `()` would send one `null`.
pub const NO_ARGS: [(); 0] = [];

/// The room holding the authenticated sockets of one user.
pub fn user_room(user_id: i32) -> String {
    format!("user-private-room-{user_id}")
}
