//! A worker slot is held while listeners run, not while the job is
//! settled: with one worker and a store slow to settle, the next job's
//! listeners run while the last job's ack is still on its way.

mod intake_support;

use intake_support::*;
use tokio::sync::Semaphore;
use webhooks_core::config::DispatchMode;

#[tokio::test]
async fn one_worker_runs_the_next_job_while_the_last_one_is_settled() {
    let gate = Arc::new(Semaphore::new(0));
    let runs = Done::default();
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .registered_listeners(false)
        .listener(runs.clone())
        .queue(SharedQueue(
            Arc::new(InMemoryEventQueue::new()),
            Some(Arc::clone(&gate)),
        ))
        .dispatch(Dispatch {
            mode: DispatchMode::Queued,
            workers: Some(1),
            ..Dispatch::default()
        })
        .build()
        .unwrap();
    for n in [1, 2] {
        assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
    }
    let ran = |count| move || runs.0.load(Ordering::SeqCst) == count;
    until("both jobs ran while no ack could pass", ran(2)).await;
    assert_eq!(
        metric(&processor, "webhooks_queue_depth"),
        2.0,
        "none acked"
    );

    gate.add_permits(2);
    until("both jobs were acked", || {
        metric(&processor, "webhooks_queue_depth") == 0.0
    })
    .await;
    processor.shutdown().await;
}
