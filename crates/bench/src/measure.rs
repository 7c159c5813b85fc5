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

    /// Operations per second over `window`, with p50 and p99 latency.
    pub fn summarise(mut self, window: &Window) -> Measured {
        self.0.sort_unstable();
        Measured {
            per_s: self.0.len() as f64 / window.length().as_secs_f64(),
            p50_ms: percentile_ms(&self.0, 0.50),
            p99_ms: percentile_ms(&self.0, 0.99),
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
}

impl Measured {
    pub fn rate_only(per_s: f64) -> Self {
        Self {
            per_s,
            p50_ms: None,
            p99_ms: None,
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

/// The rows as an aligned table, with the bus/raw ratio.
pub fn table(rows: &[Row]) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    let mut out = format!(
        "{:<22} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "scenario", "raw/s", "bus/s", "bus/raw", "raw p50", "raw p99", "bus p50", "bus p99"
    );
    for row in rows {
        out += &format!(
            "{:<22} {:>9} {:>9} {:>7.2}x {:>8} {:>8} {:>8} {:>8}\n",
            row.scenario,
            row.raw_per_s,
            row.bus_per_s,
            row.ratio(),
            ms(row.raw_p50_ms),
            ms(row.raw_p99_ms),
            ms(row.bus_p50_ms),
            ms(row.bus_p99_ms),
        );
    }
    out + "latencies in ms; publish_confirmed: publish to confirm per message; consume: none\n"
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
        };
        let row = Row::new("rpc_c1", Measured::rate_only(1000.0), bus);
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
