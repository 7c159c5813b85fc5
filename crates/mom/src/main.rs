use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mom::telemetry::init();
    mom::cli::run(mom::cli::Cli::parse()).await
}
