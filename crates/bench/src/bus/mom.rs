//! The bus side: each scenario written the way a mom service uses mom-bus.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use mom_bus::{Bus, Consumer, Context, Handler, HandlerError, Outgoing, WorkQueue};
use serde::de::IgnoredAny;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BODY, CALL_TIMEOUT};
use crate::measure::{closed_loop, CpuMeter, Latencies, Measured, Window};

/// `in_flight` tasks, each sending one message after another and waiting for its confirm.
pub(crate) async fn publish_confirmed(
    bus: &Bus,
    queue: &str,
    in_flight: usize,
    window: Window,
) -> anyhow::Result<Measured> {
    let cpu = window.meter_cpu();
    let (bus, queue) = (bus.clone(), queue.to_owned());
    let latencies = closed_loop(in_flight, window, move || {
        let (bus, queue) = (bus.clone(), queue.clone());
        async move {
            let message = Outgoing::raw("bench.publish", BODY.to_vec());
            Ok(bus.send(&queue, &message).await?)
        }
    })
    .await?;
    Ok(latencies.summarise(&window, cpu.await?))
}

/// A [`Consumer`] with a handler that only counts, at concurrency `prefetch`. Timed from the
/// `warmup`-th message handled to the last of `messages` after it.
pub(crate) async fn consume(
    bus: &Bus,
    queue: WorkQueue,
    prefetch: u16,
    warmup: u64,
    messages: u64,
) -> anyhow::Result<Measured> {
    let (marks, mut marked) = mpsc::unbounded_channel();
    let counter = Counter {
        seen: AtomicU64::new(0),
        marks: [warmup, warmup + messages],
        marked: marks,
    };
    let stop = CancellationToken::new();
    let consumer = Consumer::new(bus, queue, counter).concurrency(prefetch);
    let consuming = tokio::spawn(consumer.run(stop.clone()));
    let timeout = super::CALL_TIMEOUT * 12;
    let started = tokio::time::timeout(timeout, marked.recv()).await;
    let finished = tokio::time::timeout(timeout, marked.recv()).await;
    stop.cancel();
    consuming.await?;
    let ((started, meter), (finished, _)) = match (started, finished) {
        (Ok(Some(started)), Ok(Some(finished))) => (started, finished),
        _ => anyhow::bail!("the consumer did not drain the prefilled queue in time"),
    };
    Ok(Measured::rate_only(
        messages,
        finished - started,
        meter.stop(),
    ))
}

/// Counts deliveries and reports when the count reaches each mark.
struct Counter {
    seen: AtomicU64,
    marks: [u64; 2],
    marked: mpsc::UnboundedSender<(Instant, CpuMeter)>,
}

impl Handler for Counter {
    // Parsed, but into nothing: the cheapest handler the bus allows.
    type Message = IgnoredAny;
    type Reply = ();

    async fn handle(&self, _message: IgnoredAny, _context: Context) -> Result<(), HandlerError> {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.marks.contains(&seen) {
            let _ = self.marked.send((Instant::now(), CpuMeter::start()));
        }
        Ok(())
    }
}

/// The RPC server: a bus [`Consumer`] at `concurrency` whose handler answers `{"ok":true}`.
pub(crate) fn rpc_server(
    server: &Bus,
    queue: WorkQueue,
    concurrency: usize,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let concurrency = concurrency.clamp(1, usize::from(u16::MAX)) as u16;
    let consumer = Consumer::new(server, queue, Pong).concurrency(concurrency);
    tokio::spawn(async move {
        consumer.run(stop).await;
        Ok(())
    })
}

/// `callers` tasks, each calling `bus.call` in a loop.
pub(crate) async fn rpc_callers(
    client: &Bus,
    queue: &str,
    callers: usize,
    window: Window,
) -> anyhow::Result<Latencies> {
    let (bus, queue) = (client.clone(), queue.to_owned());
    closed_loop(callers, window, move || {
        let (bus, queue) = (bus.clone(), queue.clone());
        async move {
            let request = Outgoing::raw("bench.rpc", BODY.to_vec());
            bus.call(&queue, request, CALL_TIMEOUT)
                .await
                .context("call failed")?;
            Ok(())
        }
    })
    .await
}

/// The RPC server: answers every request with `{"ok":true}` (the raw server's reply).
struct Pong;

#[derive(Serialize)]
struct Answer {
    ok: bool,
}

impl Handler for Pong {
    type Message = IgnoredAny;
    type Reply = Answer;

    async fn handle(
        &self,
        _request: IgnoredAny,
        _context: Context,
    ) -> Result<Answer, HandlerError> {
        Ok(Answer { ok: true })
    }
}
