//! Domain types: once a value of these types exists, it is valid. HTTP bodies, bus messages
//! and socket payloads are parsed into them at the boundary; nothing past it re-checks.

pub mod dead_letter;
pub mod idempotency;
pub mod job;
pub mod user;
pub mod validation;
pub mod views;

pub use idempotency::{IdempotencyKey, KeyScope};
pub use job::{JobId, JobRequest, JobStatus};
pub use user::{Credentials, Email, NewUser, Password, PersonName, Role};
pub use validation::{FieldError, FieldErrors};
pub use views::{JobView, LoginObject, UserView};
