//! A graceful stop that cuts no request. Closing every idle keep-alive connection at once
//! races with clients writing their next request on it: that request is cut unread, and the
//! client cannot tell whether it was done. So on a stop the listener closes at once (new
//! connections are refused), open connections are served for [`DRAIN`] with `Connection:
//! close` on every answer (each client closes its connection after one more answer), and only
//! then are the remaining ones closed, finishing requests in flight.
//!
//! Two orderings keep the stop itself from cutting a request. Connections the kernel already
//! took into the listener's backlog are accepted and served before it closes (closing resets
//! them, after their client may have sent a request). And `Connection: close` is only sent
//! once the listener is closed, so a client it sends away is refused, not reset, when it
//! connects again.

use std::collections::VecDeque;
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
    /// Cancelled once the listening socket is closed.
    closed: CancellationToken,
    /// Connections found in the backlog when the listener closed, still to be served.
    backlog: VecDeque<(std::net::TcpStream, SocketAddr)>,
}

impl Draining {
    pub fn new(listener: TcpListener, stop: CancellationToken) -> std::io::Result<Self> {
        Ok(Self {
            address: listener.local_addr()?,
            listener: Some(listener),
            stop,
            closed: CancellationToken::new(),
            backlog: VecDeque::new(),
        })
    }

    /// Cancelled once the listener no longer accepts: from then on answers end their
    /// connection ([`close_when_stopping`]).
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Takes what the kernel has already accepted, then closes the listening socket.
    fn close(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        match listener.into_std() {
            // Non-blocking: accepts until the backlog is empty.
            Ok(listener) => loop {
                match listener.accept() {
                    Ok(connection) => self.backlog.push_back(connection),
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        if error.kind() != std::io::ErrorKind::WouldBlock {
                            warn!(%error, "the API cannot take its backlog on a stop");
                        }
                        break;
                    }
                }
            },
            Err(error) => warn!(%error, "the API cannot take its backlog on a stop"),
        }
        self.closed.cancel();
    }

    /// The next connection of the backlog, ready for the runtime.
    fn next_of_backlog(&mut self) -> Option<(TcpStream, SocketAddr)> {
        while let Some((connection, peer)) = self.backlog.pop_front() {
            let ready = connection
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(connection));
            match ready {
                Ok(connection) => return Some((connection, peer)),
                Err(error) => warn!(%error, "the API cannot serve a connection of its backlog"),
            }
        }
        None
    }
}

impl axum::serve::Listener for Draining {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some(listener) = &self.listener else {
                if let Some(connection) = self.next_of_backlog() {
                    return connection;
                }
                // Closed: the server stops on its own signal after the drain.
                return std::future::pending().await;
            };
            tokio::select! {
                // A stop first: what the backlog holds is then served by `close`.
                biased;
                _ = self.stop.cancelled() => self.close(),
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

/// Middleware: once `closed` is cancelled, every answer ends its connection.
pub async fn close_when_stopping(
    closed: CancellationToken,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if closed.is_cancelled() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    #[tokio::test]
    async fn a_stop_serves_the_backlog_then_refuses_new_connections() {
        let stop = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut draining = Draining::new(listener, stop.clone()).unwrap();
        let address = draining.local_addr().unwrap();
        let closed = draining.closed();

        // The kernel takes the connection into the backlog; nothing has accepted it yet.
        let waiting = std::net::TcpStream::connect(address).unwrap();
        assert!(!closed.is_cancelled());
        stop.cancel();

        let (_served, peer) = tokio::time::timeout(Duration::from_secs(5), draining.accept())
            .await
            .expect("the connection of the backlog is served, not reset");
        assert_eq!(peer, waiting.local_addr().unwrap());
        assert!(closed.is_cancelled());
        let refused = std::net::TcpStream::connect(address).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
