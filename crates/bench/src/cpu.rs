//! CPU time of every part of the system on this machine, from `/proc`: mom (this process's
//! threads named `mom…`, see [`MOM_THREADS`]), the load client (this process's other threads),
//! RabbitMQ, PostgreSQL and Redis. A cost (CPU per job) holds on a noisy machine where a rate
//! does not.

use std::collections::BTreeMap;
use std::time::Duration;

/// The thread name of the runtime that runs the system under test; everything else in this
/// process is the load client.
pub const MOM_THREADS: &str = "mom";

/// The parts CPU time is split into, in report order.
pub const PARTS: [&str; 5] = ["mom", "client", "rabbitmq", "postgres", "redis"];

/// Cumulative CPU time of each part at one moment.
#[derive(Clone, Debug, Default)]
pub struct CpuSample(BTreeMap<&'static str, Duration>);

impl CpuSample {
    pub fn now() -> Self {
        let mut parts = BTreeMap::new();
        for part in PARTS {
            parts.insert(part, Duration::ZERO);
        }
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let Some(stat) = Stat::read(&task.path().join("stat")) else {
                    continue;
                };
                let part = if stat.comm.starts_with(MOM_THREADS) {
                    "mom"
                } else {
                    "client"
                };
                *parts.entry(part).or_default() += stat.own;
            }
        }
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                if process
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_none()
                {
                    continue;
                }
                let Some(stat) = Stat::read(&process.path().join("stat")) else {
                    continue;
                };
                let part = match stat.comm.as_str() {
                    "beam.smp" | "erl_child_setup" | "inet_gethost" | "epmd" => "rabbitmq",
                    "postgres" => "postgres",
                    "redis-server" => "redis",
                    _ => continue,
                };
                // Exited children (PostgreSQL backends) are counted in their parent's totals.
                *parts.entry(part).or_default() += stat.own + stat.children;
            }
        }
        Self(parts)
    }

    /// CPU spent by each part since `earlier`.
    pub fn since(&self, earlier: &CpuSample) -> CpuSpent {
        CpuSpent(
            self.0
                .iter()
                .map(|(part, now)| {
                    let then = earlier.0.get(part).copied().unwrap_or_default();
                    (*part, now.saturating_sub(then))
                })
                .collect(),
        )
    }
}

/// CPU time each part spent over an interval.
#[derive(Clone, Debug, Default)]
pub struct CpuSpent(BTreeMap<&'static str, Duration>);

impl CpuSpent {
    pub fn total(&self) -> Duration {
        self.0.values().sum()
    }

    /// Milliseconds of CPU per unit of work, by part and in total.
    pub fn per(&self, units: u64) -> serde_json::Value {
        let per = |d: Duration| {
            if units == 0 {
                f64::NAN
            } else {
                (d.as_secs_f64() * 1000.0 / units as f64 * 1000.0).round() / 1000.0
            }
        };
        let mut out = serde_json::Map::new();
        for part in PARTS {
            out.insert(
                part.into(),
                per(self.0.get(part).copied().unwrap_or_default()).into(),
            );
        }
        out.insert("total".into(), per(self.total()).into());
        out.into()
    }
}

struct Stat {
    comm: String,
    own: Duration,
    children: Duration,
}

impl Stat {
    fn read(path: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let (head, rest) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        // After the command name: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(1)
            .take(14)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let ticks = |i: usize| fields.get(i - 1).copied().unwrap_or(0);
        // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
        let at = |t: u64| Duration::from_millis(t * 10);
        Some(Self {
            comm,
            own: at(ticks(11) + ticks(12)),
            children: at(ticks(13) + ticks(14)),
        })
    }
}

/// Peak resident memory of this process (`VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_measured_and_time_only_grows() {
        let before = CpuSample::now();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        // Busy until the kernel has counted at least one tick for this thread (10 ms).
        while CpuSample::now().since(&before).0["client"].is_zero() {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no CPU time counted"
            );
        }
        std::hint::black_box(x);
        let spent = CpuSample::now().since(&before);
        assert!(spent.total() >= spent.0["client"]);
        assert!(peak_rss_mib().is_some_and(|m| m > 0.0));
    }
}
