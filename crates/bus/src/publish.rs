//! Confirmed publishing on a small pool of channels.
//!
//! Each publish waits for its own broker confirm, but publishes never wait for each other:
//! many are in flight on every channel at once (pipelined confirms). A publish made while the
//! broker is away waits for the reconnection up to the publish timeout, then fails — a message
//! is either confirmed or reported as not sent, never silently dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::time::Instant;

use crate::connection::{Link, Supervisor};
use crate::topology::{declare_delay_tier, delay_tier, DELAY_TIER_IDLE};
use crate::BusError;

pub(crate) struct Publisher {
    supervisor: Arc<Supervisor>,
    pool: Mutex<Pool>,
    next: AtomicUsize,
    /// Delay tiers declared on the current connection, and when.
    tiers: Mutex<HashMap<(u64, u128), std::time::Instant>>,
    /// Serialises channel creation so a burst after a reconnect opens each channel once.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Pool {
    generation: u64,
    channels: Vec<Option<Channel>>,
}

/// Where a message goes.
pub(crate) struct Route<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// Fail with [`BusError::Unroutable`] when no queue takes the message.
    pub mandatory: bool,
}

impl<'a> Route<'a> {
    /// Straight to a queue through the default exchange; a missing queue is an error.
    pub(crate) fn queue(name: &'a str) -> Self {
        Self {
            exchange: "",
            routing_key: name,
            mandatory: true,
        }
    }

    /// Through `exchange` with `routing_key`; `mandatory` says whether no taker is an error.
    pub(crate) fn exchange(exchange: &'a str, routing_key: &'a str, mandatory: bool) -> Self {
        Self {
            exchange,
            routing_key,
            mandatory,
        }
    }
}

impl Publisher {
    pub(crate) fn new(supervisor: Arc<Supervisor>) -> Self {
        Self {
            supervisor,
            pool: Mutex::new(Pool::default()),
            next: AtomicUsize::new(0),
            tiers: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Publishes and waits for the broker's confirm, reconnecting within the publish timeout.
    pub(crate) async fn publish(
        &self,
        route: Route<'_>,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BusError> {
        let deadline = Instant::now() + self.supervisor.config.publish_timeout;
        loop {
            let link = match self.supervisor.current() {
                Some(link) => link,
                None => self.supervisor.link_before(deadline).await?,
            };
            let result = async {
                let channel = self.channel(&link).await?;
                let options = BasicPublishOptions {
                    mandatory: route.mandatory,
                    ..Default::default()
                };
                let confirm = channel
                    .basic_publish(
                        route.exchange.into(),
                        route.routing_key.into(),
                        options,
                        body,
                        properties.clone(),
                    )
                    .await?;
                confirm.await
            }
            .await;
            match result {
                Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {
                    // Queue names only: a reply-to name is one per caller, an unbounded label.
                    if route.exchange.is_empty() && !route.routing_key.starts_with("amq.") {
                        crate::health::count_published(route.routing_key);
                    }
                    return Ok(());
                }
                Ok(Confirmation::Ack(Some(_returned))) => {
                    return Err(BusError::Unroutable(route.routing_key.to_owned()))
                }
                Ok(Confirmation::Nack(_)) => return Err(BusError::Nacked),
                Err(error) => {
                    if link.connection.status().connected() {
                        // The connection is fine, so the broker refused this very publish
                        // (e.g. unknown exchange). Retrying would fail the same way.
                        return Err(error.into());
                    }
                    self.supervisor.report_broken(link.generation);
                    if Instant::now() >= deadline {
                        return Err(BusError::Unavailable(error.to_string()));
                    }
                }
            }
        }
    }

    /// Makes sure the delay tier for `delay` exists on the current connection.
    pub(crate) async fn ensure_delay_tier(&self, delay: Duration) -> Result<String, BusError> {
        let deadline = Instant::now() + self.supervisor.config.publish_timeout;
        let link = self.supervisor.link_before(deadline).await?;
        let key = (link.generation, delay.as_millis().max(1));
        let fresh = self
            .tiers
            .lock()
            .expect("tier lock poisoned")
            .get(&key)
            .is_some_and(|at| at.elapsed() < DELAY_TIER_IDLE / 4);
        if !fresh {
            let channel = link.connection.create_channel().await?;
            let declared = declare_delay_tier(&channel, delay).await;
            let _ = channel.close(200, "OK".into()).await;
            declared?;
            self.tiers
                .lock()
                .expect("tier lock poisoned")
                .insert(key, std::time::Instant::now());
        }
        Ok(delay_tier(delay))
    }

    /// A confirm-mode channel of the pool, opened (again) when missing or dead.
    async fn channel(&self, link: &Link) -> Result<Channel, lapin::Error> {
        let size = self.supervisor.config.publish_channels.max(1);
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % size;
        if let Some(channel) = self.pooled(link.generation, slot) {
            return Ok(channel);
        }
        let _opening = self.opening.lock().await;
        if let Some(channel) = self.pooled(link.generation, slot) {
            return Ok(channel);
        }
        let channel = link.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut pool = self.pool.lock().expect("pool lock poisoned");
        if pool.generation != link.generation || pool.channels.len() != size {
            pool.generation = link.generation;
            pool.channels = vec![None; size];
        }
        pool.channels[slot] = Some(channel.clone());
        Ok(channel)
    }

    fn pooled(&self, generation: u64, slot: usize) -> Option<Channel> {
        let pool = self.pool.lock().expect("pool lock poisoned");
        if pool.generation != generation {
            return None;
        }
        pool.channels
            .get(slot)?
            .as_ref()
            .filter(|c| c.status().connected())
            .cloned()
    }
}
