//! Publish/subscribe: every subscriber gets every message of a fanout exchange.
//!
//! Two subscribers (think: two socket nodes) each get their own exclusive, server-named queue
//! bound to the exchange, so a published log line reaches both. A fanout exchange ignores
//! routing keys; the binding key is empty.
//!
//! Run: `cargo run -p mom-bus --example publish_subscribe` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use mom_bus::{Exchange, Outgoing, Subscription};

const LINES: [&str; 3] = ["service started", "user 7 logged in", "job 42 done"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("publish_subscribe").await?;
    let logs = Exchange::fanout(common::unique("logs"));
    bus.declare_exchange(&logs).await?;

    let mut subscribers = Vec::new();
    for name in ["subscriber A", "subscriber B"] {
        let subscription = bus.subscribe(&logs);
        subscription.bindings().bind("").await?;
        subscribers.push((name, subscription));
    }

    for line in LINES {
        bus.publish(&logs.name, "", &Outgoing::json("log", line)?)
            .await?;
        println!("published {line:?}");
    }

    for (name, subscription) in &mut subscribers {
        for _ in LINES {
            let event = common::within("a log line", next(subscription)).await??;
            println!("{name} got {:?}", event.json::<String>()?);
        }
    }

    drop(subscribers);
    common::clean_up(bus, &[], &[&logs]).await
}

async fn next(subscription: &mut Subscription) -> anyhow::Result<mom_bus::Incoming> {
    subscription
        .recv()
        .await
        .ok_or_else(|| anyhow::anyhow!("the bus closed"))
}
