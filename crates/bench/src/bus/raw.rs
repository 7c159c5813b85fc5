//! The raw side: each scenario written directly on lapin, the way a careful programmer would
//! without a bus — no envelope, no pools, no supervision, but the same delivery guarantees
//! where the scenario asks for them (confirms, manual acks, persistent messages).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use futures_util::{StreamExt, TryStreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BODY, CALL_TIMEOUT, REPLY};
use crate::measure::{closed_loop, CpuMeter, Latencies, Measured, Window};

const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A client and a server connection, like two services.
pub(crate) struct Raw {
    client: Connection,
    server: Connection,
}

impl Raw {
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Self> {
        let connect = |name: &'static str| {
            Connection::connect(
                url,
                ConnectionProperties::default().with_connection_name(name.into()),
            )
        };
        Ok(Self {
            client: connect("mom-bench.raw.client").await?,
            server: connect("mom-bench.raw.server").await?,
        })
    }

    /// One confirm-mode channel with a window of `in_flight` outstanding confirms: publish until
    /// the window is full, then wait for the oldest confirm before publishing the next message.
    pub(crate) async fn publish_confirmed(
        &self,
        queue: &str,
        in_flight: usize,
        window: Window,
        envelope: Envelope,
    ) -> anyhow::Result<Measured> {
        let channel = self.client.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let cpu = window.meter_cpu();
        let mut outstanding = VecDeque::with_capacity(in_flight);
        let mut latencies = Latencies::default();
        loop {
            let now = Instant::now();
            if outstanding.len() >= in_flight || (window.is_over(now) && !outstanding.is_empty()) {
                let (started, confirm): (Instant, lapin::PublisherConfirm) =
                    outstanding.pop_front().expect("the window is not empty");
                match confirm.await? {
                    Confirmation::Ack(None) => {}
                    other => bail!("publish not confirmed: {other:?}"),
                }
                let finished = Instant::now();
                if window.counts(started, finished) {
                    latencies.record(finished - started);
                }
                continue;
            }
            if window.is_over(now) {
                break;
            }
            let mut properties = persistent().with_priority(mom_bus::DEFERRED_PRIORITY);
            if envelope != Envelope::Plain {
                properties = bus_like(properties, "bench.publish");
            }
            let confirm = channel
                .basic_publish("".into(), queue.into(), options, BODY, properties)
                .await?;
            outstanding.push_back((now, confirm));
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(latencies.summarise(&window, cpu.await?))
    }

    /// basic.consume with a prefetch and one ack per message, up to `prefetch` deliveries acked
    /// at once (as the bus Consumer handles them). Timed from the `warmup`-th message acked to
    /// the last of `messages` after it.
    pub(crate) async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
        warmup: u64,
        messages: u64,
    ) -> anyhow::Result<Measured> {
        let channel = self.server.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let total = warmup + messages;
        let acked = AtomicU64::new(0);
        let started = Mutex::new((Instant::now(), CpuMeter::start()));
        let drained = deliveries
            .take(total as usize)
            .map(Ok)
            .try_for_each_concurrent(usize::from(prefetch), |delivery| {
                let (acked, started) = (&acked, &started);
                async move {
                    let delivery: lapin::message::Delivery = delivery?;
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                    if acked.fetch_add(1, Ordering::Relaxed) + 1 == warmup {
                        *started.lock().expect("start lock") = (Instant::now(), CpuMeter::start());
                    }
                    anyhow::Ok(())
                }
            });
        tokio::time::timeout(CALL_TIMEOUT * 12, drained)
            .await
            .context("the prefilled queue was not drained in time")??;
        let (started, meter) = *started.lock().expect("start lock");
        let (elapsed, cpu) = (started.elapsed(), meter.stop());
        let _ = channel.close(200, "OK".into()).await;
        Ok(Measured::rate_only(messages, elapsed, cpu))
    }

    pub(crate) fn client(&self) -> &Connection {
        &self.client
    }

    pub(crate) fn server(&self) -> &Connection {
        &self.server
    }

    pub(crate) async fn delete_queues(&self, queues: &[mom_bus::WorkQueue]) -> anyhow::Result<()> {
        let channel = self.client.create_channel().await?;
        for queue in queues {
            for name in [queue.name.clone(), queue.dead_letter_queue()] {
                channel
                    .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                    .await
                    .with_context(|| format!("Failed to delete {name}"))?;
            }
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        let _ = self.client.close(200, "OK".into()).await;
        let _ = self.server.close(200, "OK".into()).await;
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

fn persistent() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

/// What the raw RPC client puts on a request besides correlation id and reply-to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// Persistent, priority 10: the least a request needs.
    Plain,
    /// Only the per-message TTL (`expiration`) that mom-bus puts on a request (RPC only).
    TtlOnly,
    /// What mom-bus adds: message id, type, timestamp, attempt and traceparent headers, and
    /// on RPC requests a deadline header and a per-message TTL (`expiration`). Tells what the
    /// envelope costs from what the bus's code costs.
    BusLike,
}

/// `callers` tasks, each calling in a loop; replies come back on one channel consuming
/// direct reply-to and are matched to their caller by correlation id.
pub(crate) async fn rpc_callers(
    connection: &Connection,
    queue: &str,
    callers: usize,
    window: Window,
    envelope: Envelope,
) -> anyhow::Result<Latencies> {
    let channel = connection.create_channel().await?;
    let replies = channel
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let pending: Pending = Arc::default();
    let dispatcher = tokio::spawn(dispatch(replies, Arc::clone(&pending)));
    let ids = Arc::new(AtomicU64::new(0));

    let caller_channel = channel.clone();
    let queue = queue.to_owned();
    let call = move || {
        let (channel, pending, ids) = (
            caller_channel.clone(),
            Arc::clone(&pending),
            Arc::clone(&ids),
        );
        let queue = queue.clone();
        async move {
            let id = ids.fetch_add(1, Ordering::Relaxed).to_string();
            let (reply_tx, reply_rx) = oneshot::channel();
            pending
                .lock()
                .expect("pending lock")
                .insert(id.clone(), reply_tx);
            let mut properties = persistent()
                .with_priority(mom_bus::RPC_PRIORITY)
                .with_reply_to(DIRECT_REPLY_TO.into())
                .with_correlation_id(id.into());
            match envelope {
                Envelope::Plain => {}
                Envelope::TtlOnly => {
                    let ttl = CALL_TIMEOUT.as_millis().to_string();
                    properties = properties.with_expiration(ttl.into());
                }
                Envelope::BusLike => properties = with_deadline(bus_like(properties, "bench.rpc")),
            }
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    BODY,
                    properties,
                )
                .await?;
            tokio::time::timeout(CALL_TIMEOUT, reply_rx)
                .await
                .context("no reply in time")?
                .context("the reply consumer stopped")?;
            anyhow::Ok(())
        }
    };
    let gathered = closed_loop(callers, window, call).await;
    let _ = channel.close(200, "OK".into()).await;
    let _ = dispatcher.await;
    gathered
}

/// The envelope mom-bus puts on every message, approximated field by field: message id,
/// type, timestamp, attempt and traceparent headers.
fn bus_like(properties: BasicProperties, kind: &str) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-attempt".into(), AMQPValue::LongLongInt(1));
    let trace = format!(
        "00-{}-{}-01",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(trace.as_str().into()),
    );
    properties
        .with_message_id(uuid::Uuid::new_v4().to_string().into())
        .with_type(kind.into())
        .with_timestamp(unix_time().as_secs())
        .with_headers(headers)
}

/// What mom-bus adds to an RPC request on top of the envelope: its deadline, as a TTL and as
/// a header.
fn with_deadline(properties: BasicProperties) -> BasicProperties {
    let timeout = CALL_TIMEOUT.as_millis() as u64;
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        "x-deadline-ms".into(),
        AMQPValue::LongLongInt((unix_time().as_millis() as u64 + timeout) as i64),
    );
    properties
        .with_expiration(timeout.to_string().into())
        .with_headers(headers)
}

fn unix_time() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Hands each reply to the caller waiting for its correlation id.
async fn dispatch(mut replies: lapin::Consumer, pending: Pending) {
    while let Some(Ok(reply)) = replies.next().await {
        let Some(id) = reply.properties.correlation_id() else {
            continue;
        };
        if let Some(caller) = pending.lock().expect("pending lock").remove(id.as_str()) {
            let _ = caller.send(reply.data);
        }
    }
}

/// The RPC server: a plain consumer that, for each request, publishes the reply and then acks
/// the request, handling up to `prefetch` requests at once (as the bus Consumer does).
pub(crate) async fn rpc_server(
    connection: &Connection,
    queue: &str,
    prefetch: usize,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(
            prefetch.min(usize::from(u16::MAX)) as u16,
            BasicQosOptions::default(),
        )
        .await?;
    let requests = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let concurrency = prefetch.max(1);
    Ok(tokio::spawn(async move {
        let handled = requests
            .take_until(stop.cancelled_owned())
            .map(|request| (request, channel.clone()))
            .map(Ok)
            .try_for_each_concurrent(concurrency, |(request, channel)| async move {
                let request = request?;
                if let (Some(reply_to), Some(id)) = (
                    request.properties.reply_to(),
                    request.properties.correlation_id(),
                ) {
                    let properties = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_correlation_id(id.clone());
                    reply(&channel, reply_to.as_str(), properties).await?;
                }
                request.acker.ack(BasicAckOptions::default()).await?;
                anyhow::Ok(())
            })
            .await;
        let _ = channel.close(200, "OK".into()).await;
        handled
    }))
}

async fn reply(
    channel: &Channel,
    reply_to: &str,
    properties: BasicProperties,
) -> lapin::Result<()> {
    channel
        .basic_publish(
            "".into(),
            reply_to.into(),
            BasicPublishOptions::default(),
            REPLY,
            properties,
        )
        .await
        .map(drop)
}
