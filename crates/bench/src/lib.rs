//! Benchmarks of mom, one module per `mom-bench` subcommand.
//!
//! - [`bus`]: `mom-bench bus`, mom-bus next to raw lapin against the same broker.
//! - [`system`]: `mom-bench system`, the whole system in-process under HTTP load: rates,
//!   end-to-end latency and a burst of slow jobs.
//! - [`cpu`]: CPU time of mom, the client, RabbitMQ, PostgreSQL and Redis from `/proc`.
//! - [`measure`]: the measuring window, latency percentiles and the report (table or JSON)
//!   that every subcommand prints.

pub mod bus;
pub mod cpu;
pub mod measure;
pub mod system;

/// Warnings and errors of the libraries on stderr (`RUST_LOG` overrides), so stdout stays the
/// report alone.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
