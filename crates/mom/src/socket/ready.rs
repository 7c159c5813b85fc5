//! Start-up: the gateway serves only once events really flow into its queue.
//!
//! A subscription binds keys as soon as its queue exists, but before that a bind is only
//! recorded, and an event published meanwhile is lost. A socket authenticated in that window
//! would miss its first live events, so the gateway first routes a probe to itself.

use std::time::Duration;

use anyhow::Context as _;
use mom_bus::{Bus, Exchange, Outgoing, Subscription};
use tokio::time::{timeout, Instant};

/// Routing keys of probes start with this; delivery ignores them.
pub const PROBE_PREFIX: &str = "probe.";

/// Waits until a probe published to `exchange` comes back through `subscription`.
pub async fn wait_until_events_flow(
    bus: &Bus,
    exchange: &Exchange,
    subscription: &mut Subscription,
    wait: Duration,
) -> anyhow::Result<()> {
    let key = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let bindings = subscription.bindings();
    bindings
        .bind(&key)
        .await
        .context("Failed to bind the start-up probe")?;
    let deadline = Instant::now() + wait;
    let arrived = loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no event came through the event queue within {wait:?}"
        );
        // Published again each round: until the queue is bound, a probe goes nowhere.
        bus.publish(&exchange.name, &key, &Outgoing::raw("probe", Vec::new()))
            .await
            .context("Failed to publish the start-up probe")?;
        let round = async {
            loop {
                match subscription.recv().await {
                    Some(event) if event.context.routing_key == key => return true,
                    Some(_) => continue,
                    None => return false,
                }
            }
        };
        match timeout(Duration::from_millis(250), round).await {
            Ok(true) => break true,
            Ok(false) => break false,
            Err(_) => continue,
        }
    };
    anyhow::ensure!(arrived, "the event subscription ended during start-up");
    bindings
        .unbind(&key)
        .await
        .context("Failed to unbind the start-up probe")?;
    Ok(())
}
