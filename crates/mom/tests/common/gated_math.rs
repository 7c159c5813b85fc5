//! A math service that holds every call until its gate opens. It counts the calls it holds,
//! notes each one's path, and counts the calls whose client went away before the answer (the
//! handler's future dropped mid-wait: an aborted request). Shared by the test binaries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub struct GatedMath {
    pub url: String,
    pub open: watch::Sender<bool>,
    calls: Arc<Calls>,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Calls {
    held: AtomicUsize,
    aborted: AtomicUsize,
    answered: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

impl GatedMath {
    pub async fn start() -> Self {
        let calls = Arc::new(Calls::default());
        let (open, opened) = watch::channel(false);
        let router = Router::new()
            .route("/{method}/{numbers}", get(gated_answer))
            .with_state((Arc::clone(&calls), opened));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(mom::math::serve(listener, router, shutdown.clone()));
        Self {
            url,
            open,
            calls,
            shutdown,
        }
    }

    /// Calls that arrived so far (held, aborted or answered).
    pub fn held(&self) -> usize {
        self.calls.held.load(Ordering::SeqCst)
    }

    pub fn aborted(&self) -> usize {
        self.calls.aborted.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> usize {
        self.calls.answered.load(Ordering::SeqCst)
    }

    /// `method/numbers` of every call that arrived, in order.
    pub fn paths(&self) -> Vec<String> {
        self.calls.paths.lock().unwrap().clone()
    }

    pub async fn wait_holding(&self, calls: usize) {
        self.wait_for(|| self.held() >= calls, &format!("{calls} calls held"))
            .await
    }

    pub async fn wait_aborted(&self, calls: usize) {
        self.wait_for(
            || self.aborted() >= calls,
            &format!("{calls} calls aborted"),
        )
        .await
    }

    async fn wait_for(&self, done: impl Fn() -> bool, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never saw {what}: {} held, {} aborted, {} answered",
                self.held(),
                self.aborted(),
                self.answered()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for GatedMath {
    fn drop(&mut self) {
        let _ = self.open.send(true);
        self.shutdown.cancel();
    }
}

/// Counts an abort when dropped before [`Pending::answered`].
struct Pending(Arc<Calls>, bool);

impl Pending {
    fn answered(mut self) {
        self.1 = true;
        self.0.answered.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.1 {
            self.0.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn gated_answer(
    State((calls, mut opened)): State<(Arc<Calls>, watch::Receiver<bool>)>,
    Path((method, numbers)): Path<(String, String)>,
) -> Json<Value> {
    calls
        .paths
        .lock()
        .unwrap()
        .push(format!("{method}/{numbers}"));
    calls.held.fetch_add(1, Ordering::SeqCst);
    let pending = Pending(Arc::clone(&calls), false);
    let _ = opened.wait_for(|open| *open).await;
    let step = mom_math::MathStep::parse(&method, &numbers).unwrap();
    let answer = Json(mom_math::evaluate(&step).unwrap());
    pending.answered();
    answer
}
