//! Hello world: one message from a producer to a consumer through a queue.
//!
//! Shows the smallest round trip with mom-bus: declare a durable work queue, send a persistent
//! message and wait for the broker's confirm, then consume it with a [`Handler`] — the message
//! is acked only after the handler returns.
//!
//! Run: `cargo run -p mom-bus --example hello_world` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use mom_bus::{Consumer, Context, Handler, HandlerError, Outgoing, WorkQueue};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Serialize, Deserialize)]
struct Greeting {
    text: String,
}

/// Prints each greeting and tells `main` it has arrived.
struct Printer {
    received: mpsc::UnboundedSender<()>,
}

impl Handler for Printer {
    type Message = Greeting;
    type Reply = ();

    async fn handle(&self, greeting: Greeting, context: Context) -> Result<(), HandlerError> {
        println!(
            " [x] received {:?} (type {}, message id {})",
            greeting.text,
            context.kind.unwrap_or_default(),
            context.message_id.unwrap_or_default()
        );
        let _ = self.received.send(());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("hello_world").await?;
    let queue = WorkQueue::new(common::unique("hello"));
    bus.declare_queue(&queue).await?;

    let greeting = Greeting {
        text: "Hello World!".into(),
    };
    bus.send(&queue.name, &Outgoing::json("greeting", &greeting)?)
        .await?;
    println!(
        " [x] sent {:?} to {} (confirmed by the broker)",
        greeting.text, queue.name
    );

    let (received, mut arrivals) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let consumer = Consumer::new(&bus, queue.clone(), Printer { received });
    let consuming = tokio::spawn(consumer.run(stop.clone()));

    common::within("the greeting", arrivals.recv()).await?;
    stop.cancel();
    consuming.await?;
    common::clean_up(bus, &[&queue], &[]).await
}
