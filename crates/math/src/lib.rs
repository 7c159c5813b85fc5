//! `mom-math`: the stand-in for the slow third-party math service of the seed, and the domain
//! types the API uses to check a math job's steps before accepting it.
//!
//! - [`method`] — [`MathMethod`], the five method names.
//! - [`numbers`] — [`Numbers`], the comma-separated list, parsed into exact values.
//! - [`error`] — [`MathError`], whose messages are shown to users.

pub mod error;
pub mod method;
pub mod numbers;

pub use error::MathError;
pub use method::MathMethod;
pub use numbers::{Numbers, MAX_NUMBERS, MAX_NUMBERS_LEN};
