//! `mom-bus`: the only place in mom that speaks AMQP.
//!
//! Every service talks to the others through this crate, so the delivery guarantees are
//! written and proved once:
//!
//! - [`connection`]: a supervisor that keeps one connection alive, reconnects with backoff and
//!   re-declares the registered topology before anyone uses the new connection.
//! - [`topology`]: work queues (priority, dead-letter queue, retry policy) and exchanges.
//! - [`message`]: the envelope — outgoing builder and the parsed metadata of a delivery.
//! - [`publish`]: confirmed, persistent publishing on a small pool of channels.
//! - [`rpc`]: request/reply over direct reply-to with per-call deadlines.
//! - [`consume`]: typed handlers with manual ack, retries through delay queues and dead letters.
//! - [`events`]: topic publish/subscribe with per-node exclusive queues and runtime bindings.
//! - [`health`]: what a health endpoint needs to know, including stalled consumers.
//!
//! [`Bus`] is the handle services hold; it is cheap to clone.

pub mod config;
pub mod connection;
pub mod consume;
pub mod error;
pub mod events;
pub mod health;
pub mod message;
pub mod publish;
pub mod rpc;
pub mod topology;
mod trace;

mod bus;

pub use bus::{Bus, QueueStats};
pub use config::BusConfig;
pub use consume::{channels_for, Consumer, Decode, Handler, HandlerError, RawBody};
pub use error::{BusError, RpcError};
pub use events::{EventBindings, Reattachment, Subscription};
pub use health::{BusHealth, ConsumerHealth};
pub use message::{Context, Incoming, Outgoing};
pub use topology::{Exchange, RetryPolicy, WorkQueue};

/// Header names carried by every mom message, in one place.
pub mod header {
    /// 1 for the first delivery attempt, incremented by each retry.
    pub const ATTEMPT: &str = "x-attempt";
    /// W3C trace context, so one job can be followed across services.
    pub const TRACEPARENT: &str = "traceparent";
    /// Epoch milliseconds after which an RPC caller no longer waits for the reply.
    pub const DEADLINE_MS: &str = "x-deadline-ms";
    /// Why a message was dead-lettered, or why an RPC failed (on the reply).
    pub const ERROR: &str = "x-error";
    /// How many attempts were made before a message was dead-lettered.
    pub const ATTEMPTS: &str = "x-attempts";
    /// The work queue a dead-lettered message came from.
    pub const ORIGINAL_QUEUE: &str = "x-original-queue";
    /// Epoch milliseconds of a message's first failed attempt (kept through its retries).
    pub const FIRST_FAILED_MS: &str = "x-first-failed-ms";
    /// Epoch milliseconds when a message was dead-lettered.
    pub const FAILED_AT_MS: &str = "x-failed-at-ms";
    /// Epoch milliseconds of the publish: the AMQP `timestamp` is whole seconds, too coarse
    /// for a delivery latency of a few milliseconds.
    pub const SENT_MS: &str = "x-sent-ms";
}

/// Priority of interactive RPC requests: they overtake queued background work.
pub const RPC_PRIORITY: u8 = 10;
/// Priority of deferred background work.
pub const DEFERRED_PRIORITY: u8 = 1;
/// `x-max-priority` of every work queue.
pub const MAX_PRIORITY: u8 = 10;
