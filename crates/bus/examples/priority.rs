//! Priority: urgent messages overtake a backlog in the same queue.
//!
//! Work queues are declared with `x-max-priority` 10. Background work goes at
//! `DEFERRED_PRIORITY` (1); interactive requests at `RPC_PRIORITY` (10). Here a backlog of
//! background jobs is queued first, then one normal and one urgent message; a single consumer
//! (concurrency 1) started afterwards takes the urgent one first.
//!
//! Run: `cargo run -p mom-bus --example priority` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use mom_bus::{
    Consumer, Context, Handler, HandlerError, Outgoing, WorkQueue, DEFERRED_PRIORITY, RPC_PRIORITY,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Printer {
    handled: mpsc::UnboundedSender<()>,
}

impl Handler for Printer {
    type Message = String;
    type Reply = ();

    async fn handle(&self, text: String, context: Context) -> Result<(), HandlerError> {
        println!("handled {text:<14} (priority {})", context.priority);
        let _ = self.handled.send(());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("priority").await?;
    let queue = WorkQueue::new(common::unique("prioritised"));
    bus.declare_queue(&queue).await?;

    let mut messages: Vec<(String, u8)> = (1..=4)
        .map(|i| (format!("background {i}"), DEFERRED_PRIORITY))
        .collect();
    messages.push(("normal".into(), 5));
    messages.push(("urgent".into(), RPC_PRIORITY));
    for (text, priority) in &messages {
        let message = Outgoing::json("work", text)?.priority(*priority);
        bus.send(&queue.name, &message).await?;
        println!("queued  {text:<14} (priority {priority})");
    }

    let (handled, mut done) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let consumer = Consumer::new(&bus, queue.clone(), Printer { handled }).concurrency(1);
    let consuming = tokio::spawn(consumer.run(stop.clone()));
    for _ in &messages {
        common::within("the queued messages", done.recv()).await?;
    }

    stop.cancel();
    consuming.await?;
    common::clean_up(bus, &[&queue], &[]).await
}
