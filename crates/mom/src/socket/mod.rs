//! The socket.io gateway (namespace `/user`): authenticates sockets with the login object and
//! pushes each user's job events to their live connections.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Serves the gateway on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let _ = (config, listener);
    tracing::warn!("the socket gateway is not written yet");
    shutdown.cancelled().await;
    Ok(())
}
