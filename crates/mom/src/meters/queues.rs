//! Queue depths and consumer counts, sampled every [`EVERY`] by the API (which every
//! deployment has, and which answers `/system/queues`), so neither a scrape nor a request of
//! the System page costs a broker round trip. Each sample also reads this process's own
//! publish and delivery counters: their change between two samples is the rate the System
//! page shows when the RabbitMQ management API does not answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mom_bus::{Bus, BusError};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::name;
use crate::topology::Topology;

/// How often the queues are sampled.
pub const EVERY: Duration = Duration::from_secs(5);

/// One queue at one moment.
#[derive(Clone, Debug)]
pub struct QueueSample {
    pub name: String,
    pub messages: u64,
    pub consumers: u64,
    pub dead_letters: u64,
    /// This process's confirmed publishes to the queue, ever.
    pub published: u64,
    /// Deliveries this process's consumers of the queue finished (handled, retried or
    /// dead-lettered), ever.
    pub delivered: u64,
}

/// Messages per second between the two latest samples, from this process's counters.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub publish: f64,
    pub deliver: f64,
}

#[derive(Clone, Debug)]
struct Sample {
    at: Instant,
    queues: Vec<QueueSample>,
}

/// The latest sample of the system's queues; cheap to clone.
#[derive(Clone)]
pub struct QueueSampler {
    bus: Bus,
    topology: Topology,
    /// The two latest samples, newest last.
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl QueueSampler {
    pub fn new(bus: Bus, topology: Topology) -> Self {
        Self {
            bus,
            topology,
            samples: Arc::default(),
        }
    }

    /// Samples now and then every [`EVERY`] until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.sample().await {
                debug!(%error, "cannot sample the queues; will try again");
            }
        }
    }

    /// The latest sample with the rates since the one before (`None` after the first). A
    /// fresh sample when there is none yet or the last is stale (the timer's samples have been
    /// failing): an unreachable broker is then an error, never old figures shown as current.
    pub async fn latest(&self) -> Result<Vec<(QueueSample, Option<Rates>)>, BusError> {
        let stale = self
            .samples
            .lock()
            .expect("samples poisoned")
            .last()
            .is_none_or(|sample| sample.at.elapsed() > EVERY * 3);
        if stale {
            self.sample().await?;
        }
        let samples = self.samples.lock().expect("samples poisoned");
        let (Some(last), previous) = (samples.last(), samples.len().checked_sub(2)) else {
            return Ok(Vec::new());
        };
        let previous = previous.map(|i| &samples[i]);
        Ok(last
            .queues
            .iter()
            .map(|queue| {
                let rates = previous.and_then(|before| {
                    let was = before.queues.iter().find(|q| q.name == queue.name)?;
                    let secs = last.at.duration_since(before.at).as_secs_f64();
                    (secs > 0.0).then(|| Rates {
                        publish: queue.published.saturating_sub(was.published) as f64 / secs,
                        deliver: queue.delivered.saturating_sub(was.delivered) as f64 / secs,
                    })
                });
                (queue.clone(), rates)
            })
            .collect())
    }

    /// Passive declares of each work queue and its dead-letter queue; records the gauges.
    async fn sample(&self) -> Result<(), BusError> {
        let consumers = mom_bus::health::process_consumers();
        let mut queues = Vec::new();
        for queue in self.topology.queues() {
            let stats = self.bus.queue_stats(&queue.name).await?;
            let dead_queue = queue.dead_letter_queue();
            let dead = self.bus.queue_stats(&dead_queue).await?;
            for (queue, stats) in [(&queue.name, &stats), (&dead_queue, &dead)] {
                let label = [("queue", queue.clone())];
                metrics::gauge!(name::QUEUE_MESSAGES, &label).set(f64::from(stats.messages));
                metrics::gauge!(name::QUEUE_CONSUMERS, &label).set(f64::from(stats.consumers));
            }
            let delivered = consumers
                .iter()
                .find(|c| c.queue == queue.name)
                .map_or(0, |c| c.handled + c.retried + c.dead_lettered);
            queues.push(QueueSample {
                name: queue.name.clone(),
                messages: u64::from(stats.messages),
                consumers: u64::from(stats.consumers),
                dead_letters: u64::from(dead.messages),
                published: mom_bus::health::process_published(&queue.name),
                delivered,
            });
        }
        let mut samples = self.samples.lock().expect("samples poisoned");
        samples.push(Sample {
            at: Instant::now(),
            queues,
        });
        if samples.len() > 2 {
            samples.remove(0);
        }
        Ok(())
    }
}
