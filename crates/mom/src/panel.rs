//! `mom panel`: serves the built web panel (`web/dist`) with a fallback to `index.html` for
//! client-side routes, and `/config.json` telling the panel where the API and socket are.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tracing::{info, warn};

use crate::config::Config;

#[derive(Clone)]
struct PanelState {
    api_port: u16,
    socket_port: u16,
}

pub fn router(config: &Config) -> Router {
    let state = PanelState {
        api_port: config.api_port,
        socket_port: config.socket_port,
    };
    let dir = &config.panel_dir;
    let index = dir.join("index.html");
    let app = Router::new()
        .route("/config.json", get(panel_config))
        .with_state(state);
    if index.exists() {
        app.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
    } else {
        warn!(dir = %dir.display(), "the panel is not built; run `npm ci && npm run build` in web/");
        app.fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<h1>mom</h1><p>The panel is not built yet: run <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, or start with <code>./scripts/up</code>.</p>"),
            )
        })
    }
}

/// The API and socket URLs, on the host the browser used to reach the panel, so the panel
/// works on localhost and on a LAN address alike.
async fn panel_config(State(state): State<PanelState>, headers: HeaderMap) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .map(|(name, _)| name)
                .unwrap_or(h)
                .to_owned()
        })
        .unwrap_or_else(|| "localhost".into());
    let api = std::env::var("PANEL_API_URL")
        .unwrap_or_else(|_| format!("http://{host}:{}", state.api_port));
    let socket = std::env::var("PANEL_SOCKET_URL")
        .unwrap_or_else(|_| format!("http://{host}:{}", state.socket_port));
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "apiUrl": api, "socketUrl": socket })),
    )
}

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    info!(address = %listener.local_addr()?, dir = %config.panel_dir.display(), "panel listening");
    axum::serve(listener, router(&config))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
