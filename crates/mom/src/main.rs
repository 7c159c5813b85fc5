/// The system allocates and frees per message at a high rate (tasks, frames, JSON);
/// glibc's allocator spent about a fifth of the process's CPU on it under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mom::telemetry::init();
    mom::cli::run(mom::cli::Cli::parse()).await
}
