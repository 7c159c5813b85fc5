//! The interactive path's own runtime: the API and the worker's RPC consumer run on threads
//! of their own, apart from the runtime that carries step traffic.
//!
//! Tokio has no task priorities. Next to a 10,000-job slow burst the main runtime's queue
//! held a woken task for up to 15 ms (7 ms at p99), and a `POST /job` wakes about six
//! tasks on its way, so the RPCs that DESIGN.md puts first queued behind step results. The
//! kernel does prioritise here: threads that mostly sleep get the CPU soon after they wake,
//! ahead of busy ones. Everything an interactive task waits on (sockets, the broker
//! connection, PostgreSQL connections, Redis) is created on this runtime, so its wake-ups
//! come from this runtime's own driver.

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::{Handle, Runtime};

/// The thread name; starts with `mom` like the benchmark's system threads, so its CPU time
/// counts as mom's.
const THREAD_NAME: &str = "mom-interactive";

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, usize::from))
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .expect("the interactive runtime starts")
});

fn handle() -> &'static Handle {
    RUNTIME.handle()
}

/// Runs `work` on the interactive runtime and waits for it; a panic in it is resumed here.
pub async fn run<F>(work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match handle().spawn(work).await {
        Ok(output) => output,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the interactive runtime dropped a task: {error}"),
        },
    }
}

/// `listener`, moved onto the interactive runtime's driver (it was bound on another).
pub fn adopt_listener(
    listener: tokio::net::TcpListener,
) -> std::io::Result<tokio::net::TcpListener> {
    let listener = listener.into_std()?;
    let _entered = handle().enter();
    tokio::net::TcpListener::from_std(listener)
}
