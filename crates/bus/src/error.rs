//! Errors of the bus, split by what a caller can do about them.

/// A publish or declaration failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached within the publish timeout; nothing was sent.
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused to take responsibility for the message.
    #[error("message broker rejected the message (nack)")]
    Nacked,
    /// The message could not be routed to any queue (mandatory publish).
    #[error("no queue is bound for routing key {0:?}")]
    Unroutable(String),
    /// The broker answered with an error that reconnecting will not fix.
    #[error("message broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// An RPC did not produce a reply.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No reply arrived before the deadline (no server, or a slow one).
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The request could not be sent, or the connection carrying the reply was lost.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The server handled the request and reported a failure.
    #[error("remote error: {0}")]
    Remote(String),
    /// The reply was not the expected JSON.
    #[error("cannot decode reply: {0}")]
    Decode(serde_json::Error),
}
