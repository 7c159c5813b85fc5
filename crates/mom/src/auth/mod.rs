//! Authentication: signed tokens (JWT, HS256) bound to revocable sessions in Redis.
//!
//! A token is accepted only if it verifies *and* its session is still open. Login opens a
//! session, renew opens a new one and closes the old, logout closes it — on the API at once
//! and on sockets through a `session:revoked` event. Unlike the seed, a user may hold several
//! sessions (two browsers) at the same time.

pub mod attempts;
pub mod password;
pub mod sessions;
pub mod token;

pub use attempts::{AttemptError, AttemptLimits, Attempts};
pub use sessions::{SessionState, Sessions};
pub use token::{Claims, TokenError, Tokens};
