//! `mom-bench bus`: mom-bus next to raw lapin, one scenario at a time, same broker, same run.
//!
//! Every scenario is done twice, first with the plainest fair lapin code ([`raw`]) and then
//! through mom-bus ([`mom`]), each side on a fresh queue declared with the same arguments
//! (durable, `x-max-priority` 10, dead-letter routing: a mom [`WorkQueue`]) and with the same
//! persistent message body. Client and server sides use separate connections, as separate
//! services would. Every queue the run declared is deleted at the end, also when it fails.
//!
//! Scenarios:
//! - `publish_confirmed`: persistent publishes confirmed by the broker, many in flight.
//! - `consume`: a prefilled queue drained with a manual ack per message.
//! - `rpc_c1` … `rpc_c256`: request/reply over direct reply-to, with that many callers.

mod mom;
mod raw;

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use mom_bus::{Bus, BusConfig, Outgoing, WorkQueue};

use tokio_util::sync::CancellationToken;

use crate::measure::{self, Measured, Row, Window};

/// The message body of every scenario: a small JSON document.
pub(crate) const BODY: &[u8] =
    br#"{"kind":"bench","n":12345,"text":"an ordinary small JSON message, about a hundred bytes"}"#;
/// The RPC server's reply, on both sides.
pub(crate) const REPLY: &[u8] = br#"{"ok":true}"#;
/// How long one RPC may take before the scenario fails.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args, Clone, Debug)]
pub struct BusArgs {
    /// Print one JSON array of rows instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds measured per scenario and side, after the warm-up.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Messages drained per side in `consume`, after a warm-up of a tenth as many.
    #[arg(long, default_value_t = 50_000)]
    pub messages: u64,
    /// Publishes in flight in `publish_confirmed`: the raw side's window of outstanding
    /// confirms, the bus side's number of concurrent `send` calls.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Prefetch in `consume`: the raw side's basic.qos, the bus Consumer's concurrency.
    #[arg(long, default_value_t = 64)]
    pub prefetch: u16,
    /// Times each scenario this many times (raw and bus taking turns) and reports each side's
    /// median round, which tames the noise of a small machine shared with the broker.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also time each RPC scenario with the sides mixed (bus client + raw server, raw client +
    /// bus server, raw client with the bus's envelope), to see where the bus spends its time.
    #[arg(long)]
    pub breakdown: bool,
    /// Scenarios to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    #[arg(long, env = "AMQP_URL", default_value = BusConfig::DEFAULT_URI)]
    pub amqp_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    #[value(name = "publish_confirmed")]
    PublishConfirmed,
    #[value(name = "consume")]
    Consume,
    #[value(name = "rpc_c1")]
    RpcC1,
    #[value(name = "rpc_c16")]
    RpcC16,
    #[value(name = "rpc_c64")]
    RpcC64,
    #[value(name = "rpc_c256")]
    RpcC256,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::PublishConfirmed,
        Scenario::Consume,
        Scenario::RpcC1,
        Scenario::RpcC16,
        Scenario::RpcC64,
        Scenario::RpcC256,
    ];

    /// Concurrent callers of an RPC scenario.
    fn callers(self) -> usize {
        match self {
            Scenario::RpcC1 => 1,
            Scenario::RpcC16 => 16,
            Scenario::RpcC64 => 64,
            Scenario::RpcC256 => 256,
            Scenario::PublishConfirmed | Scenario::Consume => 0,
        }
    }

    fn is_rpc(self) -> bool {
        self.callers() > 0
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::PublishConfirmed => "publish_confirmed",
            Scenario::Consume => "consume",
            Scenario::RpcC1 => "rpc_c1",
            Scenario::RpcC16 => "rpc_c16",
            Scenario::RpcC64 => "rpc_c64",
            Scenario::RpcC256 => "rpc_c256",
        }
    }
}

/// Runs the chosen scenarios and prints the report.
pub async fn run(args: BusArgs) -> anyhow::Result<()> {
    let scenarios = if args.scenario.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenario.clone()
    };
    let bench = Bench::connect(args).await?;
    let rows = bench.run(&scenarios).await;
    bench.clean_up().await;
    let rows = rows?;
    if bench.args.json {
        println!("{}", measure::json(&rows));
    } else {
        print!("{}", measure::table(&rows));
    }
    Ok(())
}

/// The connections of both sides and the queues declared so far.
struct Bench {
    args: BusArgs,
    run_id: String,
    raw: raw::Raw,
    client: Bus,
    server: Bus,
    declared: Mutex<Vec<WorkQueue>>,
}

impl Bench {
    async fn connect(args: BusArgs) -> anyhow::Result<Self> {
        let raw = raw::Raw::connect(&args.amqp_url)
            .await
            .context("Failed to connect to RabbitMQ with lapin")?;
        let client = connect_bus(&args.amqp_url, "mom-bench.bus.client").await?;
        let server = connect_bus(&args.amqp_url, "mom-bench.bus.server").await?;
        Ok(Self {
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            args,
            raw,
            client,
            server,
            declared: Mutex::new(Vec::new()),
        })
    }

    async fn run(&self, scenarios: &[Scenario]) -> anyhow::Result<Vec<Row>> {
        let mut rows = Vec::new();
        for &scenario in scenarios {
            let (mut raws, mut buses) = (Vec::new(), Vec::new());
            for round in 1..=self.args.rounds.max(1) {
                let (raw, bus) = self
                    .scenario(scenario)
                    .await
                    .with_context(|| format!("Scenario {} failed", scenario.name()))?;
                eprintln!(
                    "{:<31} round {round}: raw {:>6.0}/s  bus {:>6.0}/s",
                    scenario.name(),
                    raw.per_s,
                    bus.per_s
                );
                raws.push(raw);
                buses.push(bus);
            }
            let (raw, bus) = (median(raws), median(buses));
            let row = Row::new(scenario.name(), raw, bus);
            eprintln!(
                "{:<31} raw {:>7}/s  bus {:>7}/s  ({:.2}x)",
                row.scenario,
                row.raw_per_s,
                row.bus_per_s,
                row.ratio()
            );
            rows.push(row);
            if self.args.breakdown && scenario.is_rpc() {
                rows.extend(self.rpc_breakdown(scenario, raw).await?);
            }
            if self.args.breakdown && scenario == Scenario::PublishConfirmed {
                rows.extend(self.publish_breakdown(raw).await?);
            }
        }
        Ok(rows)
    }

    /// Rows that compare the raw baseline of `publish_confirmed` with raw lapin sending the
    /// bus's envelope, and with the bus publishing on one channel instead of its pool.
    async fn publish_breakdown(&self, raw: Measured) -> anyhow::Result<Vec<Row>> {
        let name = Scenario::PublishConfirmed.name();
        let in_flight = self.args.in_flight.max(1);
        let mut config = BusConfig::new(&self.args.amqp_url, "mom-bench.bus.one-channel");
        config.publish_channels = 1;
        let one_channel = Bus::connect(config);
        one_channel
            .wait_connected(Duration::from_secs(10))
            .await
            .context("Failed to connect a one-channel bus")?;
        let mut rows = Vec::new();
        for label in ["raw+envelope", "bus 1 channel"] {
            let mut rounds = Vec::new();
            for _ in 0..self.args.rounds.max(1) {
                let queue = self.queue(name, "mixed").await?;
                let measured = match label {
                    "raw+envelope" => {
                        let envelope = raw::Envelope::BusLike;
                        self.raw
                            .publish_confirmed(&queue.name, in_flight, self.window(), envelope)
                            .await?
                    }
                    _ => {
                        mom::publish_confirmed(&one_channel, &queue.name, in_flight, self.window())
                            .await?
                    }
                };
                rounds.push(measured);
                self.raw.delete_queues(&[queue]).await?;
            }
            rows.push(self.mixed_row(name, label, raw, median(rounds)));
        }
        one_channel.close().await;
        Ok(rows)
    }

    fn mixed_row(&self, scenario: &str, label: &str, raw: Measured, mixed: Measured) -> Row {
        let row = Row::new(&format!("{scenario} {label}"), raw, mixed);
        eprintln!(
            "{:<31} raw {:>7}/s  mix {:>7}/s  ({:.2}x)",
            row.scenario,
            row.raw_per_s,
            row.bus_per_s,
            row.ratio()
        );
        row
    }

    /// Rows that compare the raw baseline `raw` of an RPC scenario with mixed set-ups; their
    /// `bus_*` columns hold the mixed set-up.
    async fn rpc_breakdown(&self, scenario: Scenario, raw: Measured) -> anyhow::Result<Vec<Row>> {
        let callers = scenario.callers();
        let mut rows = Vec::new();
        for (label, client, server) in [
            ("raw+ttl", Side::RawWith(raw::Envelope::TtlOnly), Side::Raw),
            (
                "raw+envelope",
                Side::RawWith(raw::Envelope::BusLike),
                Side::Raw,
            ),
            ("bus client", Side::Bus, Side::Raw),
            ("bus server", Side::Raw, Side::Bus),
        ] {
            let mut rounds = Vec::new();
            for _ in 0..self.args.rounds.max(1) {
                let queue = self.queue(scenario.name(), "mixed").await?;
                rounds.push(self.rpc(&queue, client, server, callers).await?);
                self.raw.delete_queues(&[queue]).await?;
            }
            rows.push(self.mixed_row(scenario.name(), label, raw, median(rounds)));
        }
        Ok(rows)
    }

    /// `callers` callers on `client`'s side against one server on `server`'s side.
    async fn rpc(
        &self,
        queue: &WorkQueue,
        client: Side,
        server: Side,
        callers: usize,
    ) -> anyhow::Result<Measured> {
        let stop = CancellationToken::new();
        let serving = match server {
            Side::Bus => mom::rpc_server(&self.server, queue.clone(), callers, stop.clone()),
            Side::Raw | Side::RawWith(_) => {
                raw::rpc_server(self.raw.server(), &queue.name, callers, stop.clone()).await?
            }
        };
        let window = self.window();
        let cpu = window.meter_cpu();
        let called = match client {
            Side::Bus => mom::rpc_callers(&self.client, &queue.name, callers, window).await,
            Side::Raw => {
                let envelope = raw::Envelope::Plain;
                raw::rpc_callers(self.raw.client(), &queue.name, callers, window, envelope).await
            }
            Side::RawWith(envelope) => {
                raw::rpc_callers(self.raw.client(), &queue.name, callers, window, envelope).await
            }
        };
        stop.cancel();
        serving.await??;
        Ok(called?.summarise(&window, cpu.await?))
    }

    async fn scenario(&self, scenario: Scenario) -> anyhow::Result<(Measured, Measured)> {
        let name = scenario.name();
        let raw_queue = self.queue(name, "raw").await?;
        let bus_queue = self.queue(name, "bus").await?;
        let measured = match scenario {
            Scenario::PublishConfirmed => {
                let in_flight = self.args.in_flight.max(1);
                let raw = self
                    .raw
                    .publish_confirmed(
                        &raw_queue.name,
                        in_flight,
                        self.window(),
                        raw::Envelope::Plain,
                    )
                    .await?;
                let bus =
                    mom::publish_confirmed(&self.client, &bus_queue.name, in_flight, self.window())
                        .await?;
                (raw, bus)
            }
            Scenario::Consume => {
                let warmup = (self.args.messages / 10).max(100);
                let total = warmup + self.args.messages;
                let prefetch = self.args.prefetch.max(1);
                self.prefill(&raw_queue.name, total).await?;
                let raw = self
                    .raw
                    .consume(&raw_queue.name, prefetch, warmup, self.args.messages)
                    .await?;
                self.prefill(&bus_queue.name, total).await?;
                let bus = mom::consume(
                    &self.server,
                    bus_queue.clone(),
                    prefetch,
                    warmup,
                    self.args.messages,
                )
                .await?;
                (raw, bus)
            }
            Scenario::RpcC1 | Scenario::RpcC16 | Scenario::RpcC64 | Scenario::RpcC256 => {
                let callers = scenario.callers();
                let raw = self.rpc(&raw_queue, Side::Raw, Side::Raw, callers).await?;
                let bus = self.rpc(&bus_queue, Side::Bus, Side::Bus, callers).await?;
                (raw, bus)
            }
        };
        // Drop the scenario's messages now rather than carrying them through the next one.
        self.raw.delete_queues(&[raw_queue, bus_queue]).await?;
        Ok(measured)
    }

    fn window(&self) -> Window {
        Window::starting_now(
            Duration::from_secs_f64(self.args.warmup),
            Duration::from_secs_f64(self.args.duration),
        )
    }

    /// A fresh work queue for one side of a scenario, declared as mom declares every queue.
    async fn queue(&self, scenario: &str, side: &str) -> anyhow::Result<WorkQueue> {
        let queue = WorkQueue::new(format!("mom-bench.{}.{scenario}.{side}", self.run_id));
        self.declared
            .lock()
            .expect("declared lock poisoned")
            .push(queue.clone());
        self.client
            .declare_queue(&queue)
            .await
            .with_context(|| format!("Failed to declare {}", queue.name))?;
        Ok(queue)
    }

    /// Fills `queue` with `count` bus messages (full envelope), not measured.
    async fn prefill(&self, queue: &str, count: u64) -> anyhow::Result<()> {
        let writers = 64;
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let bus = self.client.clone();
            let queue = queue.to_owned();
            let share = count / writers + u64::from(writer < count % writers);
            tasks.push(tokio::spawn(async move {
                for _ in 0..share {
                    let message = Outgoing::raw("bench.consume", BODY.to_vec());
                    bus.send(&queue, &message).await?;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(())
    }

    /// Deletes every queue of the run (and its dead-letter queue) and closes the connections.
    async fn clean_up(&self) {
        let declared = std::mem::take(&mut *self.declared.lock().expect("declared lock poisoned"));
        if let Err(error) = self.raw.delete_queues(&declared).await {
            eprintln!("warning: cannot delete the benchmark's queues: {error:#}");
        }
        self.client.close().await;
        self.server.close().await;
        self.raw.close().await;
    }
}

/// Who plays a role in a scenario.
#[derive(Clone, Copy, Debug)]
enum Side {
    Raw,
    /// Raw lapin with (part of) the envelope mom-bus sends (RPC clients only).
    RawWith(raw::Envelope),
    Bus,
}

/// The round with the median rate (the lower middle one for an even count).
fn median(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.per_s.total_cmp(&b.per_s));
    rounds[(rounds.len() - 1) / 2]
}

async fn connect_bus(url: &str, name: &str) -> anyhow::Result<Bus> {
    let bus = Bus::connect(BusConfig::new(url, name));
    bus.wait_connected(Duration::from_secs(10))
        .await
        .with_context(|| format!("Failed to connect {name} to RabbitMQ"))?;
    Ok(bus)
}
