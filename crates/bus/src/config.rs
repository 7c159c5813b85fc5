//! Connection settings of the bus, with local defaults.

use std::time::Duration;

/// How the bus reaches RabbitMQ and how patient it is with it.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub uri: String,
    /// Shown in the broker's connection list; tests use it to find their own connection.
    pub connection_name: String,
    /// How long a publish (or the connection wait of an RPC) may wait for the broker during an
    /// outage before it fails with [`crate::BusError::Unavailable`].
    pub publish_timeout: Duration,
    /// First and largest pause between reconnection attempts.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Channels in the confirmed-publish pool.
    pub publish_channels: usize,
}

impl BusConfig {
    pub const DEFAULT_URI: &'static str = "amqp://guest:guest@127.0.0.1:5672/%2f?heartbeat=10";

    pub fn new(uri: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            connection_name: connection_name.into(),
            publish_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            publish_channels: 2,
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self::new(Self::DEFAULT_URI, "mom")
    }
}
