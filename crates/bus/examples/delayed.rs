//! Delayed delivery: a message that reaches its queue only after a given time.
//!
//! Works on stock RabbitMQ, without the delayed-message plugin: `send_delayed` publishes to a
//! delay tier (`mom.delay.<ms>`, a queue with that message TTL) that dead-letters into the
//! target queue when the time is up. Tiers are shared by delay and expire on their own after
//! half an hour unused. The bus retries failed messages the same way.
//!
//! Run: `cargo run -p mom-bus --example delayed` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use std::time::{Duration, Instant};

use mom_bus::{Consumer, Context, Handler, HandlerError, Outgoing, WorkQueue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Printer {
    started: Instant,
    arrived: mpsc::UnboundedSender<()>,
}

impl Handler for Printer {
    type Message = String;
    type Reply = ();

    async fn handle(&self, text: String, _context: Context) -> Result<(), HandlerError> {
        println!(
            "{:>5} ms  arrived {text:?}",
            self.started.elapsed().as_millis()
        );
        let _ = self.arrived.send(());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("delayed").await?;
    let queue = WorkQueue::new(common::unique("reminders"));
    bus.declare_queue(&queue).await?;

    let (arrived, mut arrivals) = mpsc::unbounded_channel();
    let started = Instant::now();
    let stop = CancellationToken::new();
    let consumer = Consumer::new(&bus, queue.clone(), Printer { started, arrived });
    let consuming = tokio::spawn(consumer.run(stop.clone()));

    let sends = [
        ("in 2 s", Some(Duration::from_secs(2))),
        ("in 1 s", Some(Duration::from_secs(1))),
        ("right away", None),
    ];
    for (text, delay) in sends {
        let message = Outgoing::json("reminder", text)?;
        println!("{:>5} ms  sending {text:?}", started.elapsed().as_millis());
        match delay {
            Some(delay) => bus.send_delayed(&queue.name, &message, delay).await?,
            None => bus.send(&queue.name, &message).await?,
        }
    }
    for _ in sends {
        common::within("the reminders", arrivals.recv()).await?;
    }

    stop.cancel();
    consuming.await?;
    common::clean_up(bus, &[&queue], &[]).await
}
