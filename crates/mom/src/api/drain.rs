//! A graceful stop that cuts no request. Closing every idle keep-alive connection at once
//! races with clients writing their next request on it: that request is cut unread, and the
//! client cannot tell whether it was done. So on a stop the listener closes at once (new
//! connections are refused), open connections are served for [`DRAIN`] with `Connection:
//! close` on every answer (each client closes its connection after one more answer), and only
//! then are the remaining ones closed, finishing requests in flight.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How long open connections are still served after a stop is asked for.
pub const DRAIN: Duration = Duration::from_secs(1);

/// A listener that stops accepting, and closes its socket, once `stop` is cancelled.
pub struct Draining {
    listener: Option<TcpListener>,
    address: SocketAddr,
    stop: CancellationToken,
}

impl Draining {
    pub fn new(listener: TcpListener, stop: CancellationToken) -> std::io::Result<Self> {
        Ok(Self {
            address: listener.local_addr()?,
            listener: Some(listener),
            stop,
        })
    }
}

impl axum::serve::Listener for Draining {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some(listener) = &self.listener else {
                // Closed: the server stops on its own signal after the drain.
                return std::future::pending().await;
            };
            tokio::select! {
                _ = self.stop.cancelled() => self.listener = None,
                accepted = listener.accept() => match accepted {
                    Ok(connection) => return connection,
                    Err(error) => {
                        // Out of file descriptors, say: back off instead of spinning.
                        warn!(%error, "the API cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.address)
    }
}

/// Middleware: once `stop` is cancelled, every answer ends its connection.
pub async fn close_when_stopping(
    stop: CancellationToken,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if stop.is_cancelled() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
