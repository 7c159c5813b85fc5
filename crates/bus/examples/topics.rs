//! Topics: routing keys are dot-separated words, bindings are patterns over them.
//!
//! `*` stands for exactly one word, `#` for zero or more. Keys here read
//! `<speed>.<colour>.<species>`: one subscriber wants everything orange, the other everything
//! about rabbits and everything lazy. A message matching several patterns of one subscriber is
//! still delivered to it once. (mom uses this for job events: `user.<id>.job.<event>`.)
//!
//! Run: `cargo run -p mom-bus --example topics` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use std::time::Duration;

use mom_bus::{Exchange, Outgoing, Subscription};

const KEYS: [&str; 8] = [
    "quick.orange.rabbit",
    "lazy.orange.elephant",
    "quick.orange.fox",
    "lazy.brown.fox",
    "lazy.pink.rabbit",
    "quick.brown.fox",
    "orange",
    "lazy.orange.male.rabbit",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("topics").await?;
    let animals = Exchange::topic(common::unique("topic_animals"));
    bus.declare_exchange(&animals).await?;

    let mut subscribers = Vec::new();
    for (name, patterns) in [
        ("orange", vec!["*.orange.*"]),
        ("rabbits+lazy", vec!["*.*.rabbit", "lazy.#"]),
    ] {
        let subscription = bus.subscribe(&animals);
        for pattern in &patterns {
            subscription.bindings().bind(pattern).await?;
        }
        println!("{name:>12} binds {}", patterns.join(", "));
        subscribers.push((name, patterns, subscription));
    }

    for key in KEYS {
        bus.publish(&animals.name, key, &Outgoing::json("animal", key)?)
            .await?;
    }
    println!("published {}", KEYS.join(", "));

    for (name, patterns, subscription) in &mut subscribers {
        let expected = KEYS
            .iter()
            .filter(|key| patterns.iter().any(|p| matches(p, key)))
            .count();
        let mut got = Vec::new();
        for _ in 0..expected {
            let event = common::within("an event", next(subscription)).await??;
            got.push(event.context.routing_key);
        }
        let extra = tokio::time::timeout(Duration::from_millis(200), subscription.recv()).await;
        anyhow::ensure!(extra.is_err(), "{name} got more than its patterns match");
        println!("{name:>12} got   {}", got.join(", "));
    }

    drop(subscribers);
    common::clean_up(bus, &[], &[&animals]).await
}

async fn next(subscription: &mut Subscription) -> anyhow::Result<mom_bus::Incoming> {
    subscription
        .recv()
        .await
        .ok_or_else(|| anyhow::anyhow!("the bus closed"))
}

/// The broker's topic matching, so the example knows what to expect.
fn matches(pattern: &str, key: &str) -> bool {
    fn go(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                go(&pattern[1..], key) || (!key.is_empty() && go(pattern, &key[1..]))
            }
            (Some(&"*"), Some(_)) => go(&pattern[1..], &key[1..]),
            (Some(p), Some(k)) if p == k => go(&pattern[1..], &key[1..]),
            _ => false,
        }
    }
    let pattern: Vec<_> = pattern.split('.').collect();
    let key: Vec<_> = key.split('.').collect();
    go(&pattern, &key)
}
