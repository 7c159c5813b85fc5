//! Work queues: two workers share the tasks of one queue.
//!
//! Each task's dots say how long it takes (100 ms a dot). Both workers consume the same queue
//! with a concurrency of 1, so the broker gives a worker its next task only once it has acked
//! the last one: a worker stuck on a long task does not collect a backlog while the other one
//! idles (fair dispatch, not round robin).
//!
//! Run: `cargo run -p mom-bus --example work_queues` (RabbitMQ on 127.0.0.1:5672, or set
//! `AMQP_URL`).

mod common;

use std::time::{Duration, Instant};

use mom_bus::{Consumer, Context, Handler, HandlerError, Outgoing, WorkQueue};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TASKS: [&str; 6] = [
    "First task.",
    "Second task...",
    "Third task.....",
    "Fourth task.",
    "Fifth task..",
    "Sixth task.",
];

#[derive(Serialize, Deserialize)]
struct Task {
    text: String,
}

struct Worker {
    id: u32,
    started: Instant,
    done: mpsc::UnboundedSender<()>,
}

impl Handler for Worker {
    type Message = Task;
    type Reply = ();

    async fn handle(&self, task: Task, _context: Context) -> Result<(), HandlerError> {
        let work = Duration::from_millis(100) * task.text.matches('.').count() as u32;
        let at = self.started.elapsed().as_millis();
        println!("{at:>5} ms  worker {} took {:?}", self.id, task.text);
        tokio::time::sleep(work).await;
        let at = self.started.elapsed().as_millis();
        println!("{at:>5} ms  worker {} done  {:?}", self.id, task.text);
        let _ = self.done.send(());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = common::connect("work_queues").await?;
    let queue = WorkQueue::new(common::unique("tasks"));
    bus.declare_queue(&queue).await?;

    for text in TASKS {
        let task = Task { text: text.into() };
        bus.send(&queue.name, &Outgoing::json("task", &task)?)
            .await?;
    }
    println!("sent {} tasks to {}", TASKS.len(), queue.name);

    let started = Instant::now();
    let (done, mut finished) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let workers: Vec<_> = (1..=2)
        .map(|id| {
            let worker = Worker {
                id,
                started,
                done: done.clone(),
            };
            let consumer = Consumer::new(&bus, queue.clone(), worker).concurrency(1);
            tokio::spawn(consumer.run(stop.clone()))
        })
        .collect();

    for _ in TASKS {
        common::within("the workers", finished.recv()).await?;
    }
    println!(
        "all tasks done in {} ms (one worker alone would need {} ms)",
        started.elapsed().as_millis(),
        TASKS.iter().map(|t| t.matches('.').count()).sum::<usize>() * 100
    );
    stop.cancel();
    for worker in workers {
        worker.await?;
    }
    common::clean_up(bus, &[&queue], &[]).await
}
