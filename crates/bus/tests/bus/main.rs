//! Integration tests of mom-bus against the real RabbitMQ (127.0.0.1:5672 or `AMQP_URL`).
//! Every test uses its own queue names, so they run in parallel.

mod helpers;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::*;
use mom_bus::{
    header, Consumer, Context, Exchange, HandlerError, Outgoing, RetryPolicy, RpcError, WorkQueue,
};
use serde_json::{json, Value};

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn rpc_round_trip_carries_the_envelope() {
    let bus = bus(&unique("rpc")).await;
    let queue = WorkQueue::new(unique("rpc"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(|body: Value, context: Context| async move {
            Ok(json!({
                "echo": body,
                "priority": context.priority,
                "kind": context.kind,
                "hasDeadline": context.deadline.is_some(),
                "trace": context.trace_id(),
            }))
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);

    let request = Outgoing::json("test.echo", &json!({"n": 7})).unwrap();
    let reply: Value = bus
        .call_json(&queue.name, request, Duration::from_secs(5))
        .await
        .unwrap();

    assert_eq!(reply["echo"], json!({"n": 7}));
    assert_eq!(reply["priority"], 10, "RPC goes at top priority");
    assert_eq!(reply["kind"], "test.echo");
    assert_eq!(reply["hasDeadline"], true);
    assert_eq!(reply["trace"].as_str().unwrap().len(), 32);
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn rpc_overtakes_a_backlog_of_deferred_work() {
    let bus = bus(&unique("priority")).await;
    let queue = WorkQueue::new(unique("priority"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    for i in 0..50 {
        let message = Outgoing::json("deferred", &json!({ "i": i })).unwrap();
        bus.send(&queue.name, &message).await.unwrap();
    }

    let order = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&order);
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(move |_body: Value, context: Context| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(context.kind.unwrap_or_default());
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(json!("ok"))
            }
        }),
    )
    .concurrency(1);

    // The request is queued behind the backlog before any consumer runs.
    let caller = bus.clone();
    let name = queue.name.clone();
    let call = tokio::spawn(async move {
        caller
            .call(
                &name,
                Outgoing::json("interactive", &json!({})).unwrap(),
                Duration::from_secs(10),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (stop, handle) = spawn_consumer(consumer);

    call.await.unwrap().expect("the RPC is answered");
    let position = order
        .lock()
        .unwrap()
        .iter()
        .position(|k| k == "interactive")
        .unwrap();
    assert_eq!(
        position, 0,
        "the RPC is served before the 50 queued deferred messages"
    );
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn rpc_without_a_server_times_out_and_a_late_reply_is_dropped() {
    let bus = bus(&unique("rpc-timeout")).await;
    let queue = WorkQueue::new(unique("rpc-timeout"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();

    let started = Instant::now();
    let result = bus
        .call(
            &queue.name,
            Outgoing::json("x", &json!({})).unwrap(),
            Duration::from_millis(300),
        )
        .await;
    assert!(
        matches!(result, Err(RpcError::Timeout(_))),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    // A slow server: the first call gives up, its reply arrives late and must not be taken
    // for the answer of the next call.
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(|body: Value, _context: Context| async move {
            if body["slow"] == true {
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            Ok(body)
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);
    // The expired first request is dropped by the consumer, not served late.
    let slow = bus
        .call(
            &queue.name,
            Outgoing::json("x", &json!({"slow": true, "id": 1})).unwrap(),
            Duration::from_millis(300),
        )
        .await;
    assert!(matches!(slow, Err(RpcError::Timeout(_))), "got {slow:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast: Value = bus
        .call_json(
            &queue.name,
            Outgoing::json("x", &json!({"id": 2})).unwrap(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(fast["id"], 2);
    stop.cancel();
    handle.await.unwrap();
    // Expired requests are dropped, never dead-lettered: what they carry stays out of sight.
    let dead = bus.queue_stats(&queue.dead_letter_queue()).await.unwrap();
    assert_eq!(dead.messages, 0, "expired requests were dead-lettered");
}

#[tokio::test]
async fn rpc_failure_is_reported_to_the_caller() {
    let bus = bus(&unique("rpc-error")).await;
    let queue = WorkQueue::new(unique("rpc-error")).with_retry(RetryPolicy::never());
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(|_body: Value, _context: Context| async move {
            Err::<Value, _>(HandlerError::abort("email is already used"))
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);
    let result = bus
        .call(
            &queue.name,
            Outgoing::json("x", &json!({})).unwrap(),
            Duration::from_secs(5),
        )
        .await;
    match result {
        Err(RpcError::Remote(reason)) => assert_eq!(reason, "email is already used"),
        other => panic!("expected a remote error, got {other:?}"),
    }
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn delayed_delivery_is_never_early() {
    let bus = bus(&unique("delay")).await;
    let queue = WorkQueue::new(unique("delay"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let (seen, stop, handle) = recorder(&bus, queue.clone());

    let sent = Instant::now();
    let delay = Duration::from_millis(1200);
    bus.send_delayed(
        &queue.name,
        &Outgoing::json("later", &json!({"x": 1})).unwrap(),
        delay,
    )
    .await
    .unwrap();
    bus.send(
        &queue.name,
        &Outgoing::json("now", &json!({"x": 0})).unwrap(),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(10), "the delayed message", || {
        seen.lock().unwrap().len() == 2
    })
    .await;
    let arrived = sent.elapsed();

    let kinds: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c)| c.kind.clone())
        .collect();
    assert_eq!(kinds, [Some("now".to_owned()), Some("later".to_owned())]);
    assert!(
        arrived >= delay,
        "arrived after {arrived:?}, asked for {delay:?}"
    );
    assert!(
        arrived < delay + Duration::from_millis(1500),
        "arrived after {arrived:?}"
    );
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn failing_handler_is_retried_with_growing_delays_then_dead_lettered() {
    let bus = bus(&unique("retry")).await;
    let queue = WorkQueue::new(unique("retry")).with_retry(fast_retry(4));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&attempts);
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(move |_body: Value, context: Context| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push((context.attempt, Instant::now()));
                Err::<Value, _>(HandlerError::retry("math service unreachable"))
            }
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);

    bus.send(
        &queue.name,
        &Outgoing::json("flaky", &json!({"job": 1})).unwrap(),
    )
    .await
    .unwrap();
    let dead = take_n(&queue.dead_letter_queue(), 1, Duration::from_secs(15)).await;

    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    for (gap, expected) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(
            *gap >= Duration::from_millis(expected),
            "gap {gap:?} shorter than {expected} ms"
        );
    }
    assert!(gaps[2] > gaps[0], "delays grow: {gaps:?}");

    let (body, context) = &dead[0];
    assert_eq!(
        serde_json::from_slice::<Value>(body).unwrap(),
        json!({"job": 1})
    );
    assert_eq!(
        context.headers.get(header::ATTEMPTS).map(String::as_str),
        Some("4")
    );
    let error = context.headers.get(header::ERROR).unwrap();
    assert!(
        error.contains("math service unreachable") && error.contains("4 attempts"),
        "{error}"
    );
    assert_eq!(
        context.headers.get(header::ORIGINAL_QUEUE),
        Some(&queue.name)
    );
    // When it first failed survives the retries; the span covers every backoff.
    let millis = |name: &str| -> u64 { context.headers[name].parse().unwrap() };
    let span = millis(header::FAILED_AT_MS) - millis(header::FIRST_FAILED_MS);
    assert!(span >= 1400, "first to last failure took {span} ms");
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_dead_letter_that_cannot_be_handled_stays_in_its_queue_until_it_can() {
    struct Keeper {
        seen: Arc<Mutex<Vec<Vec<u8>>>>,
    }
    impl mom_bus::Handler for Keeper {
        type Message = mom_bus::RawBody;
        type Reply = ();
        async fn handle(&self, body: mom_bus::RawBody, _: Context) -> Result<(), HandlerError> {
            let mut seen = self.seen.lock().unwrap();
            seen.push(body.0);
            // The first try fails, as a keeper whose database is down would.
            if seen.len() == 1 {
                Err(HandlerError::retry("database down"))
            } else {
                Ok(())
            }
        }
    }

    let bus = bus(&unique("keeper")).await;
    let queue = WorkQueue::new(unique("keeper"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keeper = Keeper {
        seen: Arc::clone(&seen),
    };
    let (stop, handle) = spawn_consumer(Consumer::new(&bus, queue.dead_letters(), keeper));

    // Not JSON: a dead-letter queue holds whatever failed.
    let garbage = Outgoing::raw("garbage", b"\xff{not json".to_vec());
    bus.send(&queue.dead_letter_queue(), &garbage)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the second try", || {
        seen.lock().unwrap().len() == 2
    })
    .await;
    assert!(seen.lock().unwrap().iter().all(|b| b == b"\xff{not json"));
    stop.cancel();
    handle.await.unwrap();
    let left = bus.queue_stats(&queue.dead_letter_queue()).await.unwrap();
    assert_eq!(left.messages, 0, "handled the second time, then acked");
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_and_consuming_goes_on() {
    #[derive(serde::Deserialize)]
    struct Strict {
        n: u32,
    }
    struct Typed(Arc<Mutex<Vec<u32>>>);
    impl mom_bus::Handler for Typed {
        type Message = Strict;
        type Reply = ();
        async fn handle(&self, message: Strict, _context: Context) -> Result<(), HandlerError> {
            self.0.lock().unwrap().push(message.n);
            Ok(())
        }
    }

    let bus = bus(&unique("malformed")).await;
    let queue = WorkQueue::new(unique("malformed"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (stop, handle) = spawn_consumer(Consumer::new(
        &bus,
        queue.clone(),
        Typed(Arc::clone(&handled)),
    ));

    bus.send(
        &queue.name,
        &Outgoing::raw("garbage", b"{not json".to_vec()),
    )
    .await
    .unwrap();
    bus.send(
        &queue.name,
        &Outgoing::json("wrong", &json!({"n": "seven"})).unwrap(),
    )
    .await
    .unwrap();
    bus.send(
        &queue.name,
        &Outgoing::json("good", &json!({"n": 7})).unwrap(),
    )
    .await
    .unwrap();

    let dead = take_n(&queue.dead_letter_queue(), 2, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(10), "the good message", || {
        handled.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), vec![7]);
    // Handled concurrently, so the two dead letters may arrive in either order.
    assert!(
        dead.iter().any(|(body, _)| body == b"{not json"),
        "the body is kept as it was"
    );
    for (_, context) in &dead {
        let error = context.headers.get(header::ERROR).unwrap();
        assert!(error.starts_with("malformed message"), "{error}");
        assert_eq!(
            context.headers.get(header::ATTEMPTS).map(String::as_str),
            Some("1")
        );
    }
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_is_a_failure_not_a_crash() {
    let bus = bus(&unique("panic")).await;
    let queue = WorkQueue::new(unique("panic")).with_retry(fast_retry(3));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(move |_body: Value, context: Context| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if context.attempt == 1 {
                    panic!("boom");
                }
                Ok(json!(context.attempt))
            }
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);
    bus.send(&queue.name, &Outgoing::json("p", &json!({})).unwrap())
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the retry after the panic", || {
        calls.load(Ordering::SeqCst) == 2
    })
    .await;
    let health = bus.health();
    let consumer = health
        .consumers
        .iter()
        .find(|c| c.queue == queue.name)
        .unwrap();
    eventually(Duration::from_secs(5), "the handled count", || {
        bus.health()
            .consumers
            .iter()
            .any(|c| c.queue == queue.name && c.handled == 1)
    })
    .await;
    assert_eq!(consumer.retried, 1);
    assert!(consumer.attached);
    stop.cancel();
    handle.await.unwrap();
}

/// Publishes a `job:done` event for user `to` on `exchange`.
async fn job_done_to(bus: &mom_bus::Bus, exchange: &Exchange, to: u32) {
    let event = Outgoing::json("job:done", &json!({ "to": to })).unwrap();
    bus.publish(&exchange.name, &format!("user.{to}"), &event)
        .await
        .unwrap();
}

#[tokio::test]
async fn events_reach_only_the_nodes_bound_to_their_key() {
    let name = unique("events");
    let bus = bus(&name).await;
    let exchange = Exchange::topic(unique("events"));
    let _cleanup = Cleanup::exchange(&exchange);
    bus.declare_exchange(&exchange).await.unwrap();

    let mut node_a = bus.subscribe(&exchange);
    let mut node_b = bus.subscribe(&exchange);
    node_a.bindings().bind("user.1").await.unwrap();
    node_b.bindings().bind("user.2").await.unwrap();

    job_done_to(&bus, &exchange, 1).await;
    job_done_to(&bus, &exchange, 2).await;
    job_done_to(&bus, &exchange, 3).await;

    let got_a = tokio::time::timeout(Duration::from_secs(5), node_a.recv())
        .await
        .unwrap()
        .unwrap();
    let got_b = tokio::time::timeout(Duration::from_secs(5), node_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got_a.json::<Value>().unwrap()["to"], 1);
    assert_eq!(got_b.json::<Value>().unwrap()["to"], 2);
    assert_eq!(got_a.context.routing_key, "user.1");

    node_a.bindings().unbind("user.1").await.unwrap();
    job_done_to(&bus, &exchange, 1).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), node_a.recv())
            .await
            .is_err(),
        "unbound key still delivered"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), node_b.recv())
            .await
            .is_err(),
        "node b got another node's event"
    );
}

#[tokio::test]
async fn confirmed_messages_survive_forced_connection_closes() {
    let producer_name = unique("fault-producer");
    let consumer_name = unique("fault-consumer");
    let producer = bus(&producer_name).await;
    let consumer_bus = bus(&consumer_name).await;
    let queue = WorkQueue::new(unique("fault"));
    let _cleanup = Cleanup::queue(&queue);
    producer.declare_queue(&queue).await.unwrap();

    let received = Arc::new(Mutex::new(HashSet::new()));
    let sink = Arc::clone(&received);
    let consumer = Consumer::new(
        &consumer_bus,
        queue.clone(),
        FnHandler(move |body: Value, _context: Context| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().insert(body["i"].as_u64().unwrap());
                Ok(Value::Null)
            }
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);

    let total = 2000u64;
    let confirmed = Arc::new(Mutex::new(HashSet::new()));
    let publishing = {
        let producer = producer.clone();
        let confirmed = Arc::clone(&confirmed);
        let name = queue.name.clone();
        tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..total {
                let message = Outgoing::json("n", &json!({ "i": i })).unwrap();
                match producer.send(&name, &message).await {
                    Ok(()) => {
                        confirmed.lock().unwrap().insert(i);
                    }
                    Err(_) => failed += 1,
                }
            }
            failed
        })
    };

    // Two rounds of faults in the middle of the stream, hitting producer and consumer.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let closed =
            close_connections_named(&producer_name) + close_connections_named(&consumer_name);
        assert!(closed >= 2, "found {closed} connections to close");
    }
    let failed = publishing.await.unwrap();
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(confirmed.len() as u64 + failed == total);
    assert!(
        confirmed.len() as u64 > total / 2,
        "most publishes should succeed: {}",
        confirmed.len()
    );

    eventually(
        Duration::from_secs(30),
        "every confirmed message to be consumed",
        || {
            let received = received.lock().unwrap();
            confirmed.iter().all(|i| received.contains(i))
        },
    )
    .await;
    assert!(
        producer.health().generation >= 2,
        "the producer reconnected"
    );
    assert!(
        consumer_bus.health().generation >= 2,
        "the consumer reconnected"
    );
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_and_loses_nothing() {
    let name = unique("shutdown");
    let bus = bus(&name).await;
    let queue = WorkQueue::new(unique("shutdown"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    let total = 40;
    for i in 0..total {
        bus.send(
            &queue.name,
            &Outgoing::json("slow", &json!({ "i": i })).unwrap(),
        )
        .await
        .unwrap();
    }

    let started = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    let (s, f) = (Arc::clone(&started), Arc::clone(&finished));
    let consumer = Consumer::new(
        &bus,
        queue.clone(),
        FnHandler(move |_body: Value, _context: Context| {
            let (s, f) = (Arc::clone(&s), Arc::clone(&f));
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Null)
            }
        }),
    )
    .concurrency(4);
    let (stop, handle) = spawn_consumer(consumer);
    eventually(Duration::from_secs(5), "handlers to be busy", || {
        started.load(Ordering::SeqCst) >= 4
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("shutdown is bounded")
        .unwrap();

    let started = started.load(Ordering::SeqCst);
    let finished = finished.load(Ordering::SeqCst);
    assert_eq!(started, finished, "every handler that started has finished");
    assert!(finished >= 4 && finished < total);
    // Wait for the broker to settle the closed channel, then count what is left.
    let mut left = 0;
    for _ in 0..50 {
        left = ready_count(&name, &queue.name).await;
        if left + finished == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left + finished,
        total,
        "handled + still queued = sent (none lost, none left unacked)"
    );
}

#[tokio::test]
async fn publish_to_a_missing_queue_is_an_error_not_a_silent_drop() {
    let bus = bus(&unique("unroutable")).await;
    let result = bus
        .send(
            &unique("nowhere"),
            &Outgoing::json("x", &json!({})).unwrap(),
        )
        .await;
    assert!(
        matches!(result, Err(mom_bus::BusError::Unroutable(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn publish_while_the_broker_is_unreachable_fails_in_bounded_time() {
    let mut config = mom_bus::BusConfig::new("amqp://guest:guest@127.0.0.1:1/%2f", unique("down"));
    config.publish_timeout = Duration::from_millis(500);
    let bus = mom_bus::Bus::connect(config);
    let started = Instant::now();
    let result = bus
        .send("anything", &Outgoing::json("x", &json!({})).unwrap())
        .await;
    assert!(
        matches!(result, Err(mom_bus::BusError::Unavailable(_))),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let call = bus
        .call(
            "anything",
            Outgoing::json("x", &json!({})).unwrap(),
            Duration::from_millis(300),
        )
        .await;
    assert!(
        matches!(call, Err(RpcError::Bus(mom_bus::BusError::Unavailable(_)))),
        "got {call:?}"
    );
    assert!(!bus.health().connected);
}

/// The broker walks a channel's unacked list on every ack, so a wide consumer spreads its
/// deliveries over channels of at most 256 each, without losing any of its capacity, and
/// gets all of them back after a reconnect.
#[tokio::test]
async fn a_wide_consumer_holds_its_full_concurrency_over_several_channels_and_after_a_reconnect() {
    let name = unique("wide");
    let bus = bus(&name).await;
    let queue = WorkQueue::new(unique("wide"));
    let _cleanup = Cleanup::queue(&queue);
    bus.declare_queue(&queue).await.unwrap();
    // 700 over 3 channels: a prefetch rounded down (233 each) would hold only 699.
    let total = 700u32;
    for i in 0..total {
        bus.send(
            &queue.name,
            &Outgoing::json("hold", &json!({ "i": i })).unwrap(),
        )
        .await
        .unwrap();
    }

    let started = Arc::new(AtomicU32::new(0));
    let handled = Arc::new(Mutex::new(HashSet::new()));
    let (release, released) = tokio::sync::watch::channel(0u32);
    let consumer = {
        let (started, handled) = (Arc::clone(&started), Arc::clone(&handled));
        Consumer::new(
            &bus,
            queue.clone(),
            FnHandler(move |body: Value, _context: Context| {
                let (started, handled) = (Arc::clone(&started), Arc::clone(&handled));
                let mut released = released.clone();
                async move {
                    // Held until the round of deliveries it started in is released.
                    let round = started.fetch_add(1, Ordering::SeqCst) / total;
                    let _ = released.wait_for(|r| *r > round).await;
                    handled.lock().unwrap().insert(body["i"].as_u64().unwrap());
                    Ok(Value::Null)
                }
            }),
        )
        .concurrency(total as u16)
    };
    let (stop, handle) = spawn_consumer(consumer);

    eventually(
        Duration::from_secs(20),
        "every message in flight at once",
        || started.load(Ordering::SeqCst) == total,
    )
    .await;
    let unacked = unacked_per_consuming_channel(&name);
    assert_eq!(unacked.len(), 3, "three consuming channels: {unacked:?}");
    assert!(
        unacked.iter().all(|n| *n <= 256),
        "at most 256 each: {unacked:?}"
    );
    assert_eq!(unacked.iter().sum::<u32>(), total, "{unacked:?}");
    assert!(bus.health().consumers.iter().all(|c| c.attached));

    // The connection drops with every delivery unacked. Once those handlers let go of their
    // permits, each channel comes back and the broker hands the whole lot out again.
    assert_eq!(close_connections_named(&name), 1);
    release.send_replace(1);
    eventually(
        Duration::from_secs(30),
        "every message redelivered at once",
        || started.load(Ordering::SeqCst) == 2 * total,
    )
    .await;
    let unacked = unacked_per_consuming_channel(&name);
    assert_eq!(
        unacked.len(),
        3,
        "three consuming channels again: {unacked:?}"
    );
    assert_eq!(unacked.iter().sum::<u32>(), total, "{unacked:?}");
    assert!(bus.health().consumers.iter().all(|c| c.attached));
    release.send_replace(2);
    eventually(Duration::from_secs(20), "every message handled", || {
        handled.lock().unwrap().len() == total as usize
    })
    .await;
    let mut left = u32::MAX;
    for _ in 0..50 {
        left = ready_count(&name, &queue.name).await;
        if left == 0 && unacked_per_consuming_channel(&name).iter().sum::<u32>() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "nothing left in the queue");
    stop.cancel();
    handle.await.unwrap();
}
