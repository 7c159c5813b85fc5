//! `mom-math`: the stand-in for the slow third-party math service of the seed, and the domain
//! types the API uses to check a math job's steps before accepting it.
//!
//! - [`method`] — [`MathMethod`], the five method names.
//! - [`numbers`] — [`Numbers`], the comma-separated list, parsed into exact values.
//! - [`step`] — [`MathStep`] (a method with numbers it applies to) and [`evaluate`].
//! - `arith` — add, subtract, multiply, divide: exact on integers of any size, `f64` once a
//!   decimal appears.
//! - [`wire`] — exact integers as JSON: numbers while JavaScript reads them exactly, else strings.
//! - [`primes`] — primality and distinct prime factors for any `u64`.
//! - [`http`] — [`router`]: `GET /{method}/{numbers}` after a random delay, `GET /` help.
//! - [`error`] — [`MathError`], whose messages are shown to users.
//!
//! The API parses job details with [`MathStep::parse`]; the worker later asks the service over
//! HTTP, which runs the same parse and [`evaluate`], so both sides agree on what is valid.

mod arith;
pub mod error;
pub mod http;
pub mod method;
pub mod numbers;
pub mod primes;
pub mod step;
pub mod wire;

pub use error::MathError;
pub use http::{call_counts, router, CallCounts, MathConfig};
pub use method::MathMethod;
pub use numbers::{Numbers, MAX_NUMBERS, MAX_NUMBERS_LEN};
pub use primes::{distinct_prime_factors, is_prime};
pub use step::{evaluate, MathStep};
