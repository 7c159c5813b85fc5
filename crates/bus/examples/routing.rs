//! Routing: a direct exchange delivers a message to the subscribers bound to its exact key.
//!
//! One subscriber keeps only errors (say, to write them to disk); another one shows every
//! severity on the console. Each binds the keys it wants on its own exclusive queue.
//!
//! Run: `cargo run -p mom-bus --example routing` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use std::time::Duration;

use mom_bus::{Exchange, Outgoing, Subscription};

const LOGS: [(&str, &str); 4] = [
    ("info", "user 7 logged in"),
    ("warning", "disk 80% full"),
    ("error", "math service unreachable"),
    ("info", "job 42 done"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("routing").await?;
    let logs = Exchange::direct(common::unique("direct_logs"));
    bus.declare_exchange(&logs).await?;

    let errors_only = subscriber(&bus, &logs, &["error"]).await?;
    let console = subscriber(&bus, &logs, &["info", "warning", "error"]).await?;

    for (severity, text) in LOGS {
        bus.publish(&logs.name, severity, &Outgoing::json("log", text)?)
            .await?;
        println!("published [{severity}] {text:?}");
    }

    for (name, mut subscription, keys) in [
        ("errors-only", errors_only, vec!["error"]),
        ("console", console, vec!["info", "warning", "error"]),
    ] {
        let expected = LOGS.iter().filter(|(s, _)| keys.contains(s)).count();
        for _ in 0..expected {
            let event = common::within("a log line", subscription.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the bus closed"))?;
            println!(
                "{name:>11} got [{}] {:?}",
                event.context.routing_key,
                event.json::<String>()?
            );
        }
        let extra = tokio::time::timeout(Duration::from_millis(200), subscription.recv()).await;
        anyhow::ensure!(extra.is_err(), "{name} got a message it did not bind");
    }

    common::clean_up(bus, &[], &[&logs]).await
}

/// A subscription to `exchange` with `keys` bound.
async fn subscriber(
    bus: &mom_bus::Bus,
    exchange: &Exchange,
    keys: &[&str],
) -> anyhow::Result<Subscription> {
    let subscription = bus.subscribe(exchange);
    for key in keys {
        subscription.bindings().bind(key).await?;
    }
    Ok(subscription)
}
