//! `mom math`: the stand-in for the slow external math service (see the `mom-math` crate).

use mom_math::MathConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    info!(
        address = %listener.local_addr()?,
        max_delay_ms = config.math_max_delay.as_millis() as u64,
        "math service listening"
    );
    let app = mom_math::router(MathConfig {
        max_delay: config.math_max_delay,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
