//! Shared helpers: a bus per test, unique queue names, closure handlers and broker controls.

use std::future::Future;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mom_bus::{Bus, BusConfig, Consumer, Context, Handler, HandlerError, WorkQueue};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub fn amqp_uri() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| BusConfig::DEFAULT_URI.to_owned())
}

/// A name no other test (or earlier run) uses.
pub fn unique(what: &str) -> String {
    format!(
        "test.{what}.{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A connected bus whose connection carries `name` in the broker's connection list.
pub async fn bus(name: &str) -> Bus {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("mom_bus=debug")
        .try_init();
    let mut config = BusConfig::new(amqp_uri(), name);
    config.publish_timeout = Duration::from_secs(10);
    let bus = Bus::connect(config);
    bus.wait_connected(Duration::from_secs(10))
        .await
        .expect("RabbitMQ is reachable");
    bus
}

/// A handler made of a closure over the JSON body.
pub struct FnHandler<F>(pub F);

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Value, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send,
{
    type Message = Value;
    type Reply = Value;

    fn handle(
        &self,
        message: Value,
        context: Context,
    ) -> impl Future<Output = Result<Value, HandlerError>> + Send {
        (self.0)(message, context)
    }
}

/// Runs a consumer in the background; cancel the token to stop it, await the handle to know it
/// has stopped.
pub fn spawn_consumer<H: Handler>(
    consumer: Consumer<H>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let handle = tokio::spawn(consumer.run(stop.clone()));
    (stop, handle)
}

/// Everything a recording handler saw: body and context, in order.
pub type Seen = Arc<Mutex<Vec<(Value, Context)>>>;

/// A consumer that records what it receives and succeeds.
pub fn recorder(
    bus: &Bus,
    queue: WorkQueue,
) -> (Seen, CancellationToken, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let consumer = Consumer::new(
        bus,
        queue,
        FnHandler(move |body: Value, context: Context| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push((body, context));
                Ok(Value::Null)
            }
        }),
    );
    let (stop, handle) = spawn_consumer(consumer);
    (seen, stop, handle)
}

/// Waits until `condition` holds, polling; panics after `timeout` so a test never hangs.
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Force-closes every broker connection whose client properties mention `name`, as an
/// operator or a network fault would. Returns how many were closed.
pub fn close_connections_named(name: &str) -> usize {
    // The tab-separated listing prints pids in the form close_connection takes back.
    let listing = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl runs");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let mut closed = 0;
    for line in listing.lines().filter(|line| line.contains(name)) {
        let pid = line.split('\t').next().expect("a pid").to_owned();
        let closing = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", &pid, "test: forced close"])
            .output()
            .expect("rabbitmqctl runs");
        assert!(
            closing.status.success(),
            "close_connection {pid} failed: {}",
            String::from_utf8_lossy(&closing.stderr)
        );
        closed += 1;
    }
    closed
}

/// Takes every message currently in `queue`, raw: dead letters need not be JSON.
pub async fn take_all(queue: &str) -> Vec<(Vec<u8>, Context)> {
    let bus = Bus::connect(BusConfig::new(amqp_uri(), "test-take"));
    let taken = bus.take(queue, usize::MAX).await.expect("take");
    bus.close().await;
    taken.into_iter().map(|m| (m.body, m.context)).collect()
}

/// Polls `queue` until it has yielded `count` messages, at most `timeout`.
pub async fn take_n(queue: &str, count: usize, timeout: Duration) -> Vec<(Vec<u8>, Context)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut taken = Vec::new();
    while taken.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {count} messages in {queue}, got {}",
            taken.len()
        );
        taken.extend(take_all(queue).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    taken
}

/// Ready messages in `queue`, as the broker counts them.
pub async fn ready_count(bus_name: &str, queue: &str) -> u32 {
    let connection = lapin::Connection::connect(
        &amqp_uri(),
        lapin::ConnectionProperties::default().with_connection_name(bus_name.into()),
    )
    .await
    .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("queue exists");
    let _ = connection.close(200, "OK".into()).await;
    declared.message_count()
}

/// Deletes what a test declared when the test ends, passed or failed, so runs do not pile up
/// durable queues on the broker. Runs on a thread of its own: `Drop` cannot await.
pub struct Cleanup {
    queues: Vec<WorkQueue>,
    exchanges: Vec<mom_bus::Exchange>,
}

impl Cleanup {
    pub fn queue(queue: &WorkQueue) -> Self {
        Self {
            queues: vec![queue.clone()],
            exchanges: Vec::new(),
        }
    }

    pub fn exchange(exchange: &mom_bus::Exchange) -> Self {
        Self {
            queues: Vec::new(),
            exchanges: vec![exchange.clone()],
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (queues, exchanges) = (
            std::mem::take(&mut self.queues),
            std::mem::take(&mut self.exchanges),
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let bus = Bus::connect(BusConfig::new(amqp_uri(), "test-cleanup"));
                for queue in &queues {
                    let _ = bus.delete_queue(queue).await;
                }
                for exchange in &exchanges {
                    let _ = bus.delete_exchange(exchange).await;
                }
                bus.close().await;
            });
            Some(())
        })
        .join();
    }
}

/// Unacked deliveries of each consuming channel (prefetch above 0) of the connections whose
/// client properties mention `name`, as the broker counts them.
pub fn unacked_per_consuming_channel(name: &str) -> Vec<u32> {
    let rabbitmqctl = |args: &[&str]| {
        let output = Command::new("rabbitmqctl")
            .args(args)
            .output()
            .expect("rabbitmqctl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let connections: Vec<String> =
        rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"])
            .lines()
            .filter(|line| line.contains(name))
            .filter_map(|line| line.split('\t').next().map(str::to_owned))
            .collect();
    rabbitmqctl(&[
        "-q",
        "list_channels",
        "connection",
        "prefetch_count",
        "messages_unacknowledged",
    ])
    .lines()
    .filter_map(|line| {
        let mut columns = line.split('\t');
        let (connection, prefetch, unacked) = (columns.next()?, columns.next()?, columns.next()?);
        let consuming = connections.iter().any(|c| c == connection) && prefetch != "0";
        consuming.then(|| unacked.parse().expect("a count"))
    })
    .collect()
}
