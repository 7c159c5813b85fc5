//! The socket.io gateway (namespace `/user`): authenticates sockets with the login object and
//! pushes each user's job events to their live connections on this node.
//!
//! - [`protocol`]: namespace, event and room names of the contract.
//! - [`auth`]: the `authenticate` payload and the token/session checks.
//! - [`namespace`]: the socket handlers (`authenticate`, `deauthenticate`, disconnect).
//! - [`rooms`]: authenticated sockets and the per-user bindings of this node's event queue.
//! - [`delivery`]: bus events → the user's sockets.
//! - [`offline`]: job events missed while the user had no socket, sent after `authenticated`.
//! - [`reverify`]: the periodic re-check of tokens and sessions.
//! - [`notified`]: `job.notified` commands for the db worker.
//! - [`ready`]: start-up waits until events flow into this node's queue.
//!
//! Any number of gateway nodes can run side by side: each has its own exclusive event queue
//! bound to the users connected to it, so each delivers exactly its own users' events.

pub mod auth;
mod delivery;
mod namespace;
mod notified;
mod offline;
pub mod protocol;
mod ready;
mod reverify;
mod rooms;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use mom_bus::{Bus, Subscription};
use socketioxide::SocketIo;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::auth::Authenticator;
use self::notified::Notifier;
use self::rooms::UserRooms;
use crate::auth::{Sessions, Tokens};
use crate::config::Config;
use crate::topology::Topology;
use crate::wiring::{self, Backing, START_WAIT};

/// How long shutdown waits for connections to close after the sockets were told.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the socket handlers and background tasks of one node share.
pub(crate) struct Gateway {
    authenticator: Authenticator,
    rooms: UserRooms,
    /// Reads only: missed events. Writes go to the db worker.
    pool: PgPool,
    notifier: Notifier,
}

/// Serves the gateway on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(Connected {
        bus,
        topology,
        pool,
        sessions,
        subscription,
    }) = connect(&config, &shutdown).await?
    else {
        return Ok(());
    };
    let tokens = Tokens::new(&config.jwt_secret, config.token_ttl);

    // The tasks stop after the server, so the last deliveries and notifications go out.
    let tasks = CancellationToken::new();
    let notifier_stop = CancellationToken::new();
    let (notifier, notifier_task) =
        Notifier::start(bus.clone(), topology.db.name.clone(), notifier_stop.clone());
    let gateway = Arc::new(Gateway {
        authenticator: Authenticator::new(tokens, sessions),
        rooms: UserRooms::new(subscription.bindings()),
        pool,
        notifier,
    });

    let (layer, io) = SocketIo::builder()
        .with_state(Arc::clone(&gateway))
        .build_layer();
    // socket.io v2 clients always join `/` first; without a handler there they are dropped.
    io.ns("/", async || ());
    io.ns(protocol::NAMESPACE, namespace::connected);
    let app = Router::new()
        .route(
            "/",
            get(|| async { "mom socket.io gateway: namespace /user\n" }),
        )
        .layer(layer)
        .layer(config.cors_origins.socket_layer(config.panel_port));

    let delivery = tokio::spawn(delivery::run(
        Arc::clone(&gateway),
        io.clone(),
        subscription,
        tasks.clone(),
    ));
    let reverify = tokio::spawn(reverify::run(
        Arc::clone(&gateway),
        io.clone(),
        config.socket_reverify,
        tasks.clone(),
    ));

    info!(
        address = %listener.local_addr().context("Failed to read the listening address")?,
        namespace = protocol::NAMESPACE,
        reverify = ?config.socket_reverify,
        "socket gateway listening"
    );
    let closing = {
        let (io, shutdown) = (io.clone(), shutdown.clone());
        // Disconnecting every socket answers pending long-polls, so the server can finish.
        async move {
            shutdown.cancelled().await;
            io.close().await;
        }
    };
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(closing)
        .into_future();
    let served = tokio::select! {
        served = serving => served.context("The socket gateway server failed"),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            warn!("connections still open after the shutdown grace period; closing them");
            Ok(())
        }
    };

    tasks.cancel();
    for task in [delivery, reverify] {
        if let Err(error) = task.await {
            warn!(%error, "a socket gateway task failed");
        }
    }
    // Last, so it flushes what the deliveries above still queued.
    notifier_stop.cancel();
    if let Err(error) = notifier_task.await {
        warn!(%error, "the job.notified sender failed");
    }
    bus.close().await;
    info!("socket gateway stopped");
    served
}

/// The services the gateway uses, reachable, and its event queue receiving.
struct Connected {
    bus: Bus,
    topology: Topology,
    pool: PgPool,
    sessions: Sessions,
    subscription: Subscription,
}

/// `Ok(None)`: `shutdown` came first.
async fn connect(
    config: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Connected>> {
    let Some(Backing {
        bus,
        pool,
        topology,
    }) = Backing::connect(config, "socket", shutdown).await?
    else {
        return Ok(None);
    };
    let subscribed = async {
        let Some(sessions) = wiring::sessions(config, shutdown).await? else {
            return Ok(None);
        };
        let mut subscription = bus.subscribe(&topology.events);
        let flowing =
            ready::wait_until_events_flow(&bus, &topology.events, &mut subscription, START_WAIT);
        match wiring::until_shutdown(flowing, shutdown).await {
            Some(flowing) => flowing.map(|()| Some((sessions, subscription))),
            None => Ok(None),
        }
    };
    match subscribed.await {
        Ok(Some((sessions, subscription))) => Ok(Some(Connected {
            bus,
            topology,
            pool,
            sessions,
            subscription,
        })),
        stopped_or_failed => {
            bus.close().await;
            stopped_or_failed.map(|_| None)
        }
    }
}
