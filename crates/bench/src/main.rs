//! `mom-bench`: see the crate docs (`src/lib.rs`) for what each subcommand measures.

/// The system allocates and frees per message at a high rate (tasks, frames, JSON);
/// glibc's allocator spent about a fifth of the process's CPU on it under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mom-bench",
    about = "Benchmarks of mom against a real RabbitMQ"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// mom-bus next to raw lapin on the same broker: confirmed publishing, consuming, RPC.
    Bus(mom_bench::bus::BusArgs),
    /// The whole system (`mom up` in-process): POST /job and completion rates with CPU per job,
    /// end-to-end latency, or (`--jobs N --math-delay-ms M`) a burst of slow jobs.
    System(mom_bench::system::SystemArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    mom_bench::init_logs();
    match cli.command {
        Command::Bus(args) => mom_bench::bus::run(args).await,
        Command::System(args) => mom_bench::system::run(args).await,
    }
}
