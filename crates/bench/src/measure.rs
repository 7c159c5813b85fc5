//! How a scenario is timed and reported.
//!
//! A timed scenario runs its operations through a warm-up and then a measuring [`Window`]; only
//! operations that both start and finish inside the window count, so the rate is
//! `operations counted / window length` and neither the ramp-up nor the stragglers at the end
//! distort it.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The measuring window of one scenario: warm-up first, then `duration` measured.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    from: Instant,
    until: Instant,
}

impl Window {
    /// A window that opens after `warmup` from now and stays open for `duration`.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Self {
        let from = Instant::now() + warmup;
        Self {
            from,
            until: from + duration,
        }
    }

    /// True once no operation started now could count any more.
    pub fn is_over(&self, now: Instant) -> bool {
        now >= self.until
    }

    /// Whether an operation that ran from `started` to `finished` is measured.
    pub fn counts(&self, started: Instant, finished: Instant) -> bool {
        started >= self.from && finished <= self.until
    }

    pub fn length(&self) -> Duration {
        self.until - self.from
    }

    /// Samples CPU use at the opening and closing of the window, in the background.
    pub fn meter_cpu(&self) -> tokio::task::JoinHandle<CpuSpent> {
        let (from, until) = (self.from, self.until);
        tokio::spawn(async move {
            tokio::time::sleep_until(from).await;
            let start = CpuMeter::start();
            tokio::time::sleep_until(until).await;
            start.stop()
        })
    }
}

/// CPU time of this process and of the broker (if it runs on this machine) from a start.
#[derive(Clone, Copy, Debug)]
pub struct CpuMeter {
    broker: Option<u32>,
    ours: Option<Duration>,
    theirs: Option<Duration>,
}

/// CPU time spent between a [`CpuMeter::start`] and its [`CpuMeter::stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSpent {
    pub ours: Option<Duration>,
    pub broker: Option<Duration>,
}

impl CpuMeter {
    pub fn start() -> Self {
        let broker = broker_pid();
        Self {
            broker,
            ours: cpu_time("self"),
            theirs: broker.and_then(|pid| cpu_time(&pid.to_string())),
        }
    }

    pub fn stop(self) -> CpuSpent {
        let since = |then: Option<Duration>, now: Option<Duration>| Some(now? - then?);
        CpuSpent {
            ours: since(self.ours, cpu_time("self")),
            broker: since(
                self.theirs,
                self.broker.and_then(|pid| cpu_time(&pid.to_string())),
            ),
        }
    }
}

/// User + system CPU time of a process from `/proc/<pid>/stat` (Linux; `None` elsewhere).
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis(ticks * 10))
}

/// The pid of a RabbitMQ node running on this machine (the Erlang VM, `beam.smp`).
fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim() == "beam.smp").then_some(pid)
        })
}

/// The latencies of the operations a window counted, gathered from every task.
#[derive(Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Operations per second over `window`, with p50 and p99 latency and the CPU time spent
    /// per operation during the window.
    pub fn summarise(mut self, window: &Window, cpu: CpuSpent) -> Measured {
        self.0.sort_unstable();
        let count = self.0.len() as u64;
        Measured {
            per_s: count as f64 / window.length().as_secs_f64(),
            p50_ms: percentile_ms(&self.0, 0.50),
            p99_ms: percentile_ms(&self.0, 0.99),
            cpu: CpuPerOp::new(cpu, count),
        }
    }
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1].as_secs_f64() * 1000.0)
}

/// The result of one side of a scenario.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub per_s: f64,
    /// `None` where a per-operation latency means nothing (draining a queue).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cpu: CpuPerOp,
}

impl Measured {
    /// A rate of `count` operations in `elapsed`, without latencies.
    pub fn rate_only(count: u64, elapsed: Duration, cpu: CpuSpent) -> Self {
        Self {
            per_s: count as f64 / elapsed.as_secs_f64(),
            p50_ms: None,
            p99_ms: None,
            cpu: CpuPerOp::new(cpu, count),
        }
    }
}

/// Microseconds of CPU per operation: of this process (both ends of the scenario, since client
/// and server run in it) and of the broker.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuPerOp {
    pub ours_us: Option<f64>,
    pub broker_us: Option<f64>,
}

impl CpuPerOp {
    fn new(spent: CpuSpent, count: u64) -> Self {
        let per_op = |cpu: Option<Duration>| {
            cpu.filter(|_| count > 0)
                .map(|cpu| cpu.as_secs_f64() * 1e6 / count as f64)
        };
        Self {
            ours_us: per_op(spent.ours),
            broker_us: per_op(spent.broker),
        }
    }
}

/// One line of the report: the same scenario done with raw lapin and with mom-bus.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub raw_per_s: u64,
    pub bus_per_s: u64,
    pub bus_p50_ms: Option<f64>,
    pub bus_p99_ms: Option<f64>,
    /// Shown in the table for context; the JSON keeps the agreed shape.
    #[serde(skip)]
    pub raw_p50_ms: Option<f64>,
    #[serde(skip)]
    pub raw_p99_ms: Option<f64>,
    #[serde(skip)]
    pub raw_cpu: CpuPerOp,
    #[serde(skip)]
    pub bus_cpu: CpuPerOp,
}

impl Row {
    pub fn new(scenario: &str, raw: Measured, bus: Measured) -> Self {
        Self {
            scenario: scenario.to_owned(),
            raw_per_s: raw.per_s.round() as u64,
            bus_per_s: bus.per_s.round() as u64,
            bus_p50_ms: bus.p50_ms.map(round3),
            bus_p99_ms: bus.p99_ms.map(round3),
            raw_p50_ms: raw.p50_ms.map(round3),
            raw_p99_ms: raw.p99_ms.map(round3),
            raw_cpu: raw.cpu,
            bus_cpu: bus.cpu,
        }
    }

    /// bus / raw throughput.
    pub fn ratio(&self) -> f64 {
        if self.raw_per_s == 0 {
            return f64::NAN;
        }
        self.bus_per_s as f64 / self.raw_per_s as f64
    }
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The rows as one JSON array.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).expect("rows are plain numbers and strings")
}

/// The rows as an aligned table, with the bus/raw ratio and the CPU each side spent.
pub fn table(rows: &[Row]) -> String {
    let num =
        |v: Option<f64>, decimals: usize| v.map_or("-".to_owned(), |v| format!("{v:.decimals$}"));
    let mut out = format!(
        "{:<31} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8}\n",
        "scenario",
        "raw/s",
        "bus/s",
        "bus/raw",
        "raw p50",
        "raw p99",
        "bus p50",
        "bus p99",
        "raw cpu",
        "bus cpu",
        "raw brk",
        "bus brk",
    );
    for row in rows {
        out += &format!(
            "{:<31} {:>8} {:>8} {:>6.2}x {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8}\n",
            row.scenario,
            row.raw_per_s,
            row.bus_per_s,
            row.ratio(),
            num(row.raw_p50_ms, 2),
            num(row.raw_p99_ms, 2),
            num(row.bus_p50_ms, 2),
            num(row.bus_p99_ms, 2),
            num(row.raw_cpu.ours_us, 0),
            num(row.bus_cpu.ours_us, 0),
            num(row.raw_cpu.broker_us, 0),
            num(row.bus_cpu.broker_us, 0),
        );
    }
    out + "p50/p99: latency in ms (publish_confirmed: publish to confirm; consume: none).\n\
           cpu: CPU µs per operation of mom-bench itself (client and server), brk: of the broker.\n"
}

/// `workers` tasks, each running `operation` back to back until the window is over, and the
/// latencies of the operations the window counts. The first failure fails the scenario.
pub async fn closed_loop<F, Fut>(
    workers: usize,
    window: Window,
    operation: F,
) -> anyhow::Result<Latencies>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                loop {
                    let started = Instant::now();
                    if window.is_over(started) {
                        return anyhow::Ok(latencies);
                    }
                    operation().await?;
                    let finished = Instant::now();
                    if window.counts(started, finished) {
                        latencies.record(finished - started);
                    }
                }
            })
        })
        .collect();
    let mut all = Latencies::default();
    let mut failed = None;
    for task in tasks {
        match task.await? {
            Ok(latencies) => all.merge(latencies),
            Err(error) => failed = Some(error),
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), Some(50.0));
        assert_eq!(percentile_ms(&sorted, 0.99), Some(99.0));
        assert_eq!(percentile_ms(&sorted[..1], 0.99), Some(1.0));
        assert_eq!(percentile_ms(&[], 0.5), None);
    }

    #[test]
    fn json_rows_have_the_agreed_fields() {
        let bus = Measured {
            per_s: 900.4,
            p50_ms: Some(0.51234),
            p99_ms: None,
            cpu: CpuPerOp::default(),
        };
        let raw = Measured::rate_only(1000, Duration::from_secs(1), CpuSpent::default());
        let row = Row::new("rpc_c1", raw, bus);
        let value: serde_json::Value = serde_json::from_str(&json(&[row])).unwrap();
        assert_eq!(
            value,
            serde_json::json!([{
                "scenario": "rpc_c1", "raw_per_s": 1000, "bus_per_s": 900,
                "bus_p50_ms": 0.512, "bus_p99_ms": null
            }])
        );
    }
}
