//! The `mom` command line: one subcommand per service.

use clap::{Parser, Subcommand};

use crate::app;
use crate::config::Config;
use crate::domain::Role;

#[derive(Parser)]
#[command(
    name = "mom",
    version,
    about = "A message-oriented backend: api, worker, socket gateway, math service and panel."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// REST API (port API_PORT, default 7070).
    Api,
    /// db and math consumers and the outbox relay (metrics on METRICS_PORT, default 7071).
    Worker,
    /// socket.io gateway (port SOCKET_PORT, default 7080; metrics on METRICS_PORT, default 7081).
    Socket,
    /// The stand-in external math service (port MATH_PORT, default 7090; metrics on
    /// METRICS_PORT, default 7091).
    Math,
    /// The web panel (port PANEL_PORT, default 9090), serving PANEL_DIR (default web/dist).
    Panel,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Everything in one process: migrate, then every service on its port.
    Up,
    /// Grant or revoke the admin role (System page, /system/*, /admin/*).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Subcommand)]
pub enum AdminAction {
    /// Make the registered user with this email an admin.
    Grant { email: String },
    /// Make them a plain user again; takes effect on their next request.
    Revoke { email: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::meters::install();
    run_with(cli, Config::from_env()?).await
}

/// [`run`] on a given configuration (tests pass their own instead of the environment).
pub async fn run_with(cli: Cli, config: Config) -> anyhow::Result<()> {
    if let Command::Admin { action } = &cli.command {
        return admin(&config, action).await;
    }
    if config.jwt_secret == Config::DEV_JWT_SECRET {
        tracing::warn!("JWT_SECRET is the development default; set your own outside local use");
    }
    if matches!(cli.command, Command::Api | Command::Socket | Command::Up) {
        config.check_secret()?;
    }
    let shutdown = app::shutdown_on_signal();
    let service = match cli.command {
        Command::Api => app::Service::Api,
        Command::Worker => app::Service::Worker,
        Command::Socket => app::Service::Socket,
        Command::Math => app::Service::Math,
        Command::Panel => app::Service::Panel,
        Command::Migrate => return app::migrate(&config).await,
        Command::Admin { ref action } => return admin(&config, action).await,
        Command::Up => {
            let system = app::System::bind(config).await?;
            let addresses = system.addresses()?;
            tracing::info!(
                api = %addresses.api, socket = %addresses.socket, math = %addresses.math, panel = %addresses.panel,
                "mom is up; open the panel at http://{}; metrics on http://{}/metrics", addresses.panel, addresses.api
            );
            return system.run(shutdown).await;
        }
    };
    let alone = app::Alone::bind(config, service).await?;
    if let Some(address) = alone.metrics_address() {
        tracing::info!(%address, "metrics on http://{address}/metrics");
    }
    alone.run(shutdown).await
}

/// `mom admin grant|revoke EMAIL`: an error (exit code 1) says why nothing changed.
async fn admin(config: &Config, action: &AdminAction) -> anyhow::Result<()> {
    let (email, role) = match action {
        AdminAction::Grant { email } => (email, Role::Admin),
        AdminAction::Revoke { email } => (email, Role::User),
    };
    crate::roles::set(config, email, role).await?;
    println!("{email} is now {}", role.as_str());
    Ok(())
}
