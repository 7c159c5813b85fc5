//! Starting services: each alone (`mom api`, …) or all together (`mom up`), on the same code
//! paths, with one shutdown signal for everything.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Config, MetricsPort};

/// Cancels the returned token on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
        info!("shutdown requested; finishing work in flight");
        trigger.cancel();
    });
    token
}

pub async fn bind(config: &Config, port: u16) -> anyhow::Result<TcpListener> {
    let address = SocketAddr::new(config.host, port);
    TcpListener::bind(address)
        .await
        .with_context(|| format!("Failed to listen on {address}"))
}

/// Creates the database if needed and applies the migrations.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool = crate::store::connect(&config.database_url, Duration::from_secs(60)).await?;
    crate::store::migrate(&pool).await?;
    info!("migrations applied");
    Ok(())
}

/// A service run on its own process (`mom api`, `mom worker`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Api,
    Worker,
    Socket,
    Math,
    Panel,
}

impl Service {
    /// Its metrics port when `METRICS_PORT` is unset. The API serves `/metrics` on its own
    /// port and the panel records nothing, so neither has one.
    pub fn default_metrics_port(self) -> Option<u16> {
        match self {
            Self::Worker => Some(7071),
            Self::Socket => Some(7081),
            Self::Math => Some(7091),
            Self::Api | Self::Panel => None,
        }
    }

    fn metrics_port(self, config: &Config) -> Option<u16> {
        match (self, config.metrics_port) {
            (Self::Api, _) | (_, MetricsPort::Off) => None,
            (_, MetricsPort::Port(port)) => Some(port),
            (_, MetricsPort::ServiceDefault) => self.default_metrics_port(),
        }
    }
}

/// One service on its own: its listener (the worker has none) and its metrics listener.
pub struct Alone {
    pub service: Service,
    pub config: Config,
    listener: Option<TcpListener>,
    metrics: Option<TcpListener>,
}

impl Alone {
    /// Binds the service's port and its metrics port (0 picks free ones).
    pub async fn bind(config: Config, service: Service) -> anyhow::Result<Self> {
        let port = match service {
            Service::Api => Some(config.api_port),
            Service::Socket => Some(config.socket_port),
            Service::Math => Some(config.math_port),
            Service::Panel => Some(config.panel_port),
            Service::Worker => None,
        };
        let listener = match port {
            Some(port) => Some(bind(&config, port).await?),
            None => None,
        };
        let metrics = match service.metrics_port(&config) {
            Some(port) => Some(bind(&config, port).await?),
            None => None,
        };
        Ok(Self {
            service,
            config,
            listener,
            metrics,
        })
    }

    /// Where `/metrics` is served apart from the service, if it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref()?.local_addr().ok()
    }

    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.as_ref()?.local_addr().ok()
    }

    /// Runs the service until `shutdown`; its metrics endpoint stops with it.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        crate::meters::install();
        let Self {
            service,
            config,
            listener,
            metrics,
        } = self;
        let metrics_stop = CancellationToken::new();
        let metrics = async {
            match metrics {
                Some(listener) => crate::meters::serve(listener, metrics_stop.clone()).await,
                None => Ok(()),
            }
        };
        let serving = async {
            let result = match (service, listener) {
                (Service::Worker, _) => crate::worker::run(config, shutdown).await,
                (Service::Api, Some(l)) => crate::api::run(config, l, shutdown).await,
                (Service::Socket, Some(l)) => crate::socket::run(config, l, shutdown).await,
                (Service::Math, Some(l)) => crate::math::run(config, l, shutdown).await,
                (Service::Panel, Some(l)) => crate::panel::run(config, l, shutdown).await,
                (_, None) => unreachable!("bind gives every service but the worker a listener"),
            };
            // Scrapable until the service has drained, then gone.
            metrics_stop.cancel();
            result
        };
        let (served, metrics) = tokio::join!(serving, metrics);
        served.and(metrics)
    }
}

/// The whole system in one process: every service on its own listener.
pub struct System {
    pub config: Config,
    pub api: TcpListener,
    pub socket: TcpListener,
    pub math: TcpListener,
    pub panel: TcpListener,
}

/// Where a running [`System`] listens.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    pub api: SocketAddr,
    pub socket: SocketAddr,
    pub math: SocketAddr,
    pub panel: SocketAddr,
}

impl System {
    /// Binds every port (0 picks free ones, as tests do) and points the workers at the math
    /// service actually bound.
    pub async fn bind(mut config: Config) -> anyhow::Result<Self> {
        let api = bind(&config, config.api_port).await?;
        let socket = bind(&config, config.socket_port).await?;
        let math = bind(&config, config.math_port).await?;
        let panel = bind(&config, config.panel_port).await?;
        // A MATH_URL naming our own (possibly ephemeral) math port follows the bound address.
        let own_math = reqwest::Url::parse(&config.math_url)
            .ok()
            .and_then(|url| url.port_or_known_default())
            .is_some_and(|port| port == config.math_port);
        if own_math {
            config.math_url = format!("http://{}", math.local_addr()?);
        }
        config.api_port = api.local_addr()?.port();
        config.socket_port = socket.local_addr()?.port();
        config.math_port = math.local_addr()?.port();
        // The API's and the gateway's default CORS origin is the panel's.
        config.panel_port = panel.local_addr()?.port();
        Ok(Self {
            config,
            api,
            socket,
            math,
            panel,
        })
    }

    pub fn addresses(&self) -> anyhow::Result<Addresses> {
        Ok(Addresses {
            api: self.api.local_addr()?,
            socket: self.socket.local_addr()?,
            math: self.math.local_addr()?,
            panel: self.panel.local_addr()?,
        })
    }

    /// Migrates, then runs every service until `shutdown`; returns when all have stopped.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Before any service, so the first things they record are kept.
        crate::meters::install();
        migrate(&self.config).await?;
        let Self {
            config,
            api,
            socket,
            math,
            panel,
        } = self;
        // Stops in dependency order, so a graceful stop costs no 5xx: the API and the panel
        // stop taking requests and finish theirs while the workers still answer them; then
        // the gateway and the workers drain; the math service goes last, since steps in
        // flight call it. A service that fails starts the same orderly stop.
        let back = CancellationToken::new();
        let last = CancellationToken::new();
        let front_stage = async {
            let (api, panel) = tokio::join!(
                stop_all_on_error(
                    crate::api::run(config.clone(), api, shutdown.clone()),
                    &shutdown
                ),
                stop_all_on_error(
                    crate::panel::run(config.clone(), panel, shutdown.clone()),
                    &shutdown
                ),
            );
            back.cancel();
            api.and(panel)
        };
        let back_stage = async {
            let (worker, socket) = tokio::join!(
                stop_all_on_error(crate::worker::run(config.clone(), back.clone()), &shutdown),
                stop_all_on_error(
                    crate::socket::run(config.clone(), socket, back.clone()),
                    &shutdown
                ),
            );
            last.cancel();
            worker.and(socket)
        };
        let last_stage = stop_all_on_error(
            crate::math::run(config.clone(), math, last.clone()),
            &shutdown,
        );
        let (front, back, last) = tokio::join!(front_stage, back_stage, last_stage);
        front.and(back).and(last)
    }
}

/// Runs a service; if it fails, asks every other one to stop.
async fn stop_all_on_error(
    service: impl std::future::Future<Output = anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let result = service.await;
    if let Err(error) = &result {
        tracing::error!(error = %format!("{error:#}"), "a service failed; stopping the others");
        shutdown.cancel();
    }
    result
}
