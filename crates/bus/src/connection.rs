//! The connection supervisor: one AMQP connection per [`crate::Bus`], kept alive for as long as
//! the bus lives.
//!
//! Users never hold a `lapin::Connection` across an outage. They ask for the current [`Link`]
//! (waiting a bounded time when there is none) and tag everything they build on it with the
//! link's generation, so a channel from a dead connection is recognised and rebuilt.
//! A new link is announced only after the registered topology has been re-declared on it, so
//! nobody publishes into a queue that does not exist yet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::{Connection, ConnectionProperties, Event};
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::topology::Declaration;
use crate::{BusConfig, BusError};

/// A live connection and the number of connections made before it.
#[derive(Clone)]
pub struct Link {
    pub connection: Arc<Connection>,
    pub generation: u64,
}

pub(crate) struct Supervisor {
    pub(crate) config: BusConfig,
    link: watch::Sender<Option<Link>>,
    topology: Mutex<Vec<Declaration>>,
    broken: Notify,
    pub(crate) stop: CancellationToken,
    /// Cancelled once `run` has returned, its connection closed.
    pub(crate) stopped: CancellationToken,
}

impl Supervisor {
    pub(crate) fn start(config: BusConfig) -> Arc<Self> {
        let (link, _) = watch::channel(None);
        let supervisor = Arc::new(Self {
            config,
            link,
            topology: Mutex::new(Vec::new()),
            broken: Notify::new(),
            stop: CancellationToken::new(),
            stopped: CancellationToken::new(),
        });
        tokio::spawn(Arc::clone(&supervisor).run());
        supervisor
    }

    /// The current link, waiting until `deadline` for one.
    pub(crate) async fn link_before(&self, deadline: Instant) -> Result<Link, BusError> {
        let mut updates = self.link.subscribe();
        let wait = async {
            updates
                .wait_for(|link| link.as_ref().is_some_and(usable))
                .await
                .map(|link| link.clone())
        };
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(Some(link))) => Ok(link),
            Ok(Ok(None)) | Ok(Err(_)) => Err(BusError::Unavailable("the bus is closed".into())),
            Err(_) => Err(BusError::Unavailable(format!(
                "no connection to RabbitMQ at {}",
                redact(&self.config.uri)
            ))),
        }
    }

    /// Waits for a link for as long as the bus lives; `None` once it is closed.
    pub(crate) async fn link(&self) -> Option<Link> {
        let mut updates = self.link.subscribe();
        tokio::select! {
            _ = self.stop.cancelled() => None,
            link = updates.wait_for(|link| link.as_ref().is_some_and(usable)) => {
                link.ok().and_then(|l| l.clone())
            }
        }
    }

    pub(crate) fn current(&self) -> Option<Link> {
        self.link.borrow().clone().filter(usable)
    }

    /// Somebody hit an error on `generation`; if that connection is really gone, reconnect now
    /// instead of waiting for the periodic check.
    pub(crate) fn report_broken(&self, generation: u64) {
        if let Some(link) = self.link.borrow().as_ref() {
            if link.generation == generation && !usable(link) {
                self.broken.notify_one();
            }
        }
    }

    /// Stops re-declaring `declaration` on new connections.
    pub(crate) fn forget(&self, declaration: &Declaration) {
        self.topology
            .lock()
            .expect("topology lock poisoned")
            .retain(|d| d != declaration);
    }

    /// Remembers `declaration` for every future connection and applies it now.
    pub(crate) async fn declare(&self, declaration: Declaration) -> Result<(), BusError> {
        {
            let mut topology = self.topology.lock().expect("topology lock poisoned");
            if !topology.contains(&declaration) {
                topology.push(declaration.clone());
            }
        }
        let deadline = Instant::now() + self.config.publish_timeout;
        loop {
            let link = self.link_before(deadline).await?;
            let channel = match link.connection.create_channel().await {
                Ok(channel) => channel,
                Err(e) => {
                    self.report_broken(link.generation);
                    if !usable(&link) && Instant::now() < deadline {
                        continue;
                    }
                    return Err(e.into());
                }
            };
            let result = declaration.apply(&channel).await;
            let _ = channel.close(200, "OK".into()).await;
            return result.map_err(BusError::from);
        }
    }

    async fn run(self: Arc<Self>) {
        let mut generation = 0u64;
        let mut failures = 0u32;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            let connected = tokio::select! {
                _ = self.stop.cancelled() => break,
                connected = self.connect() => connected,
            };
            match connected {
                Ok(connection) => {
                    failures = 0;
                    generation += 1;
                    let connection = Arc::new(connection);
                    info!(generation, uri = %redact(&self.config.uri), "connected to RabbitMQ");
                    self.link.send_replace(Some(Link {
                        connection: Arc::clone(&connection),
                        generation,
                    }));
                    self.watch(&connection).await;
                    self.link.send_replace(None);
                    if self.stop.is_cancelled() {
                        let _ = connection.close(200, "OK".into()).await;
                        break;
                    }
                    warn!(generation, "connection to RabbitMQ lost; reconnecting");
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(20) {
                        warn!(%error, failures, uri = %redact(&self.config.uri), "cannot connect to RabbitMQ; retrying");
                    }
                }
            }
            let pause = backoff(&self.config, failures);
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        debug!("connection supervisor stopped");
        self.stopped.cancel();
    }

    async fn connect(&self) -> Result<Connection, lapin::Error> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.config.connection_name.as_str().into());
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&self.config.uri, properties),
        )
        .await
        .map_err(|_| {
            lapin::Error::from(lapin::ErrorKind::IOError(Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))))
        })??;
        let channel = connection.create_channel().await?;
        let declarations = self
            .topology
            .lock()
            .expect("topology lock poisoned")
            .clone();
        for declaration in &declarations {
            declaration.apply(&channel).await?;
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(connection)
    }

    /// Returns when the connection is gone or the bus is stopping.
    async fn watch(&self, connection: &Connection) {
        let mut events = connection.events_listener();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = self.broken.notified() => {}
                _ = tick.tick() => {}
                event = events.next() => match event {
                    Some(Event::Error(error)) => {
                        warn!(%error, "RabbitMQ connection error");
                    }
                    Some(Event::ConnectionBlocked(reason)) => warn!(%reason, "RabbitMQ blocked publishing"),
                    Some(Event::ConnectionUnblocked) => info!("RabbitMQ unblocked publishing"),
                    Some(_) => {}
                    None => return,
                },
            }
            if !connection.status().connected() {
                return;
            }
        }
    }
}

fn usable(link: &Link) -> bool {
    link.connection.status().connected()
}

/// Exponential backoff with jitter, so a fleet of services does not reconnect in lockstep.
fn backoff(config: &BusConfig, failures: u32) -> Duration {
    let base = config
        .reconnect_min
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(config.reconnect_max);
    let jitter = rand::rng().random_range(0.5..1.0);
    base.mul_f64(jitter)
}

/// The URI without its password, for logs.
pub(crate) fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &uri[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &uri[..scheme + 3], user, &uri[at..])
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(redact("amqp://host"), "amqp://host");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let config = BusConfig::default();
        assert!(backoff(&config, 0) <= config.reconnect_min);
        assert!(backoff(&config, 30) <= config.reconnect_max);
        assert!(backoff(&config, 30) >= config.reconnect_max / 2);
    }
}
