//! RPC: a client calls a server through a queue and waits for its reply.
//!
//! The request goes to the server's work queue at top priority with a deadline; the reply comes
//! back over RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`), matched by correlation id, so
//! no reply queue is declared per call. A handler error reaches the caller as
//! `RpcError::Remote` (and the refused request is parked in the queue's dead-letter queue, which
//! the bus logs as a warning); a call nobody answers ends with `RpcError::Timeout`, never a
//! hang.
//!
//! Run: `cargo run -p mom-bus --example rpc` (RabbitMQ on 127.0.0.1:5672, or set `AMQP_URL`).

mod common;

use std::time::{Duration, Instant};

use mom_bus::{
    Consumer, Context, Handler, HandlerError, Outgoing, RetryPolicy, RpcError, WorkQueue,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Serialize, Deserialize)]
struct FibRequest {
    n: u32,
}

#[derive(Serialize, Deserialize)]
struct FibReply {
    n: u32,
    fib: u64,
}

/// The server: Fibonacci numbers, refusing those that do not fit in a u64.
struct Fibonacci;

impl Handler for Fibonacci {
    type Message = FibRequest;
    type Reply = FibReply;

    async fn handle(
        &self,
        request: FibRequest,
        _context: Context,
    ) -> Result<FibReply, HandlerError> {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..request.n {
            let next = a.checked_add(b).ok_or_else(|| {
                HandlerError::abort(format!("fib({}) overflows a u64", request.n))
            })?;
            (a, b) = (b, next);
        }
        Ok(FibReply {
            n: request.n,
            fib: a,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("rpc").await?;
    // A failed RPC is answered at once; retrying it later would only reach a caller who left.
    let queue = WorkQueue::new(common::unique("rpc_fib")).with_retry(RetryPolicy::never());
    bus.declare_queue(&queue).await?;

    let stop = CancellationToken::new();
    let server = tokio::spawn(Consumer::new(&bus, queue.clone(), Fibonacci).run(stop.clone()));

    for n in [1, 10, 30, 90, 100] {
        let request = Outgoing::json("fib", &FibRequest { n })?;
        let started = Instant::now();
        let result = bus
            .call_json::<FibReply>(&queue.name, request, Duration::from_secs(2))
            .await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(reply) => println!(" [.] fib({}) = {} ({took:.1} ms)", reply.n, reply.fib),
            Err(RpcError::Remote(reason)) => {
                println!(" [!] server refused: {reason} ({took:.1} ms)")
            }
            Err(other) => return Err(other.into()),
        }
    }

    stop.cancel();
    server.await?;

    // With the server gone, a call ends at its deadline instead of waiting forever.
    let started = Instant::now();
    let request = Outgoing::json("fib", &FibRequest { n: 5 })?;
    match bus
        .call(&queue.name, request, Duration::from_millis(500))
        .await
    {
        Err(RpcError::Timeout(after)) => println!(
            " [!] no server: gave up after {after:?} ({} ms)",
            started.elapsed().as_millis()
        ),
        other => anyhow::bail!("expected a timeout, got {other:?}"),
    }

    common::clean_up(bus, &[&queue], &[]).await
}
