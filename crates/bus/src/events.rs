//! Topic events with one exclusive queue per subscriber node.
//!
//! Each node declares its own server-named, exclusive queue and binds only the routing keys it
//! cares about (the socket gateway: the users connected to it), so any number of nodes each
//! receive exactly the events of their own clients. Bindings change at runtime and are restored
//! on a new queue after a reconnection; events published while a node was disconnected are not
//! replayed by the bus: [`Subscription::reattachments`] tells the node, so it can recover them
//! from its store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::connection::{Link, Supervisor};
use crate::{BusError, Context, Exchange, Incoming};

enum Control {
    Bind(String, oneshot::Sender<Result<(), BusError>>),
    Unbind(String, oneshot::Sender<Result<(), BusError>>),
}

/// Adds and removes routing keys of a [`Subscription`]. Cheap to clone.
#[derive(Clone)]
pub struct EventBindings {
    control: mpsc::Sender<Control>,
    /// How long a bind waits for the subscription to be attached.
    patience: Duration,
}

impl EventBindings {
    /// Binds `key`; returns once the broker routes matching events to this node. Without a
    /// connection it fails after the publish timeout, but the key is kept and bound as soon as
    /// the subscription attaches.
    pub async fn bind(&self, key: &str) -> Result<(), BusError> {
        self.request(|done| Control::Bind(key.to_owned(), done))
            .await
    }

    pub async fn unbind(&self, key: &str) -> Result<(), BusError> {
        self.request(|done| Control::Unbind(key.to_owned(), done))
            .await
    }

    async fn request(
        &self,
        control: impl FnOnce(oneshot::Sender<Result<(), BusError>>) -> Control,
    ) -> Result<(), BusError> {
        let closed = || BusError::Unavailable("the subscription has ended".into());
        let (done, result) = oneshot::channel();
        self.control
            .send(control(done))
            .await
            .map_err(|_| closed())?;
        match tokio::time::timeout(self.patience, result).await {
            Ok(result) => result.map_err(|_| closed())?,
            Err(_) => Err(BusError::Unavailable(
                "not subscribed yet; the binding is applied once connected".into(),
            )),
        }
    }
}

/// The events of one exchange that match this node's bindings.
pub struct Subscription {
    bindings: EventBindings,
    events: mpsc::Receiver<Incoming>,
    reattached: watch::Receiver<Reattachment>,
}

/// The last time a subscription came back after losing its queue. Events published while it
/// was detached went nowhere; everything published after `detached_for` ended reaches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reattachment {
    /// How many times it has come back; 0 until the first loss.
    pub count: u64,
    /// From the loss of the old queue to the new one receiving with every binding.
    pub detached_for: Duration,
}

impl Subscription {
    pub(crate) fn start(supervisor: Arc<Supervisor>, exchange: Exchange) -> Self {
        let (control, requests) = mpsc::channel(64);
        let (sink, events) = mpsc::channel(1024);
        let (reattach, reattached) = watch::channel(Reattachment::default());
        let patience = supervisor.config.publish_timeout;
        tokio::spawn(run(supervisor, exchange, requests, sink, reattach));
        Self {
            bindings: EventBindings { control, patience },
            events,
            reattached,
        }
    }

    pub fn bindings(&self) -> EventBindings {
        self.bindings.clone()
    }

    /// Changes each time the subscription is attached again after losing its queue (never
    /// for the first attachment).
    pub fn reattachments(&self) -> watch::Receiver<Reattachment> {
        self.reattached.clone()
    }

    /// The next event; `None` once the bus is closed.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.events.recv().await
    }
}

async fn run(
    supervisor: Arc<Supervisor>,
    exchange: Exchange,
    mut requests: mpsc::Receiver<Control>,
    sink: mpsc::Sender<Incoming>,
    reattach: watch::Sender<Reattachment>,
) {
    let mut keys = BTreeSet::new();
    // Since when events have been going nowhere; `None` before the first attachment.
    let mut detached_since: Option<Instant> = None;
    // Bind requests made while detached: answered once their key is bound on attach.
    let mut waiting: Vec<oneshot::Sender<Result<(), BusError>>> = Vec::new();
    loop {
        let link = loop {
            tokio::select! {
                // A usable connection goes first: a bind made while connected must be applied
                // on the broker (in the attached loop below) before it is acknowledged.
                biased;
                _ = sink.closed() => return,
                link = supervisor.link() => match link {
                    Some(link) => break link,
                    None => return,
                },
                request = requests.recv() => match request {
                    Some(Control::Bind(key, done)) => { keys.insert(key); waiting.push(done); }
                    Some(Control::Unbind(key, done)) => { keys.remove(&key); let _ = done.send(Ok(())); }
                    None => return,
                },
            }
        };
        let (channel, queue, mut deliveries) = match attach(&link, &exchange, &keys).await {
            Ok(attached) => attached,
            Err(error) => {
                warn!(exchange = %exchange.name, %error, "cannot subscribe; retrying");
                supervisor.report_broken(link.generation);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        info!(exchange = %exchange.name, %queue, bindings = keys.len(), "subscribed");
        for done in waiting.drain(..) {
            let _ = done.send(Ok(()));
        }
        if let Some(since) = detached_since.take() {
            reattach.send_modify(|last| {
                last.count += 1;
                last.detached_for = since.elapsed();
            });
        }
        loop {
            tokio::select! {
                _ = sink.closed() => {
                    let _ = channel.close(200, "OK".into()).await;
                    return;
                }
                request = requests.recv() => match request {
                    Some(Control::Bind(key, done)) => {
                        let bound = channel
                            .queue_bind(queue.as_str().into(), exchange.name.as_str().into(), key.as_str().into(), QueueBindOptions::default(), FieldTable::default())
                            .await;
                        if bound.is_ok() { keys.insert(key); }
                        let _ = done.send(bound.map_err(BusError::from));
                    }
                    Some(Control::Unbind(key, done)) => {
                        let unbound = channel
                            .queue_unbind(queue.as_str().into(), exchange.name.as_str().into(), key.as_str().into(), FieldTable::default())
                            .await;
                        keys.remove(&key);
                        let _ = done.send(unbound.map_err(BusError::from));
                    }
                    None => return,
                },
                delivery = deliveries.next() => match delivery {
                    Some(Ok(delivery)) => {
                        let context = Context::from_delivery(delivery.routing_key.as_str(), delivery.redelivered, &delivery.properties);
                        if sink.send(Incoming { body: delivery.data, context }).await.is_err() {
                            return;
                        }
                    }
                    _ => break,
                },
            }
        }
        detached_since = Some(Instant::now());
        supervisor.report_broken(link.generation);
    }
}

async fn attach(
    link: &Link,
    exchange: &Exchange,
    keys: &BTreeSet<String>,
) -> Result<(Channel, String, lapin::Consumer), lapin::Error> {
    let channel = link.connection.create_channel().await?;
    exchange.declare(&channel).await?;
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("".into(), options, FieldTable::default())
        .await?;
    let queue = queue.name().to_string();
    for key in keys {
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.name.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let deliveries = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((channel, queue, deliveries))
}
