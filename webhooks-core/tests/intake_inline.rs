//! Inline: what the lifecycle asks of an [`Intake`]: a claim with the
//! arrival to record (or none), the completion with the run, the steps one
//! by one without an intake, and no intake at all when it does not fit the
//! processor's log and queue.
//!
//! The intake here keeps the processor's own in-memory store, log and queue
//! and takes the steps one after the other, as the separate traits would,
//! writing down what it was asked; the Redis intake is tested against Redis
//! in the workspace's `tests/redis_intake.rs`.

mod intake_support;

use intake_support::*;

// ---------------------------------------------------------------------------
// Inline: the claim.

#[tokio::test]
async fn inline_without_a_log_the_intake_claims_with_no_arrival() {
    let intake = Steps::new(false, false);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 1).await.unwrap(), accepted(1));
    assert_eq!(
        intake.asked(),
        [
            Asked::Claim {
                key: "github:d-1".into(),
                lease: Duration::from_secs(45),
                received: None,
            },
            Asked::Complete {
                key: "github:d-1".into(),
                run: None,
            },
        ]
    );
    // The intake's claim is the store's: completed by the lifecycle.
    assert_eq!(
        deliver(&processor, 1).await.unwrap(),
        Processed::Duplicate { id: "d-1".into() }
    );
}

#[tokio::test]
async fn inline_with_a_remote_log_the_claim_carries_the_arrival_and_its_body() {
    let intake = Steps::new(true, false);
    let processor = intake.processor(true).build().unwrap();
    assert_eq!(deliver(&processor, 2).await.unwrap(), accepted(2));
    let [Asked::Claim { received, .. }, Asked::Complete { run, .. }] = &intake.asked()[..] else {
        panic!("{:?}", intake.asked());
    };
    assert_eq!(received.as_ref(), Some(&arrived(2, true)));
    // The run goes with the completion, in the same step.
    let done = Some((
        "github".to_owned(),
        "d-2".to_owned(),
        EventStatus::Succeeded,
    ));
    assert_eq!(run, &done);
    // Recorded by the intake alone: the arrival, then the run.
    let record = record_once(&intake.0.log, 2, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!((record.attempts, record.redeliveries), (1, 0));
}

#[tokio::test]
async fn without_kept_bodies_the_arrival_has_no_body() {
    let intake = Steps::new(true, false);
    let processor = intake
        .processor(true)
        .event_log_config(without_bodies())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 3).await.unwrap(), accepted(3));
    let [Asked::Claim { received, .. }, Asked::Complete { .. }] = &intake.asked()[..] else {
        panic!("{:?}", intake.asked());
    };
    assert_eq!(received.as_ref(), Some(&arrived(3, false)));
}

#[tokio::test]
async fn the_intakes_claim_answers_are_the_deliverys() {
    let intake = Steps::new(false, false);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .build()
        .unwrap();
    let store = &intake.0.store;
    let held = store.claim("github:d-4", Duration::from_secs(60)).await;
    assert!(matches!(held, Ok(Claim::Acquired(_))));
    assert!(matches!(
        deliver(&processor, 4).await,
        Err(ProcessError::InProgress { id }) if id == "d-4"
    ));
    assert_eq!(intake.asked().len(), 1);
}

// ---------------------------------------------------------------------------
// Inline, no intake: the steps one by one.

#[tokio::test]
async fn without_an_intake_the_log_records_the_arrival_and_counts_redeliveries() {
    let log = Arc::new(InMemoryEventLog::new(LogBounds::default()));
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .registered_listeners(false)
        .listener(Done::default())
        .event_log(Arc::clone(&log))
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 5).await.unwrap(), accepted(5));
    let record = record_once(&log, 5, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!(record.body.as_deref(), Some(BODY));
    assert_eq!(
        deliver(&processor, 5).await.unwrap(),
        Processed::Duplicate { id: "d-5".into() }
    );
    record_once(&log, 5, |r| r.redeliveries == 1).await;
}

// ---------------------------------------------------------------------------
// The fit check: an intake is used only when it writes the log exactly when
// the processor keeps a remote one, and, queued, when it pushes.

/// A processor over an intake that writes the log (`records_log`) and
/// pushes (`queues`) as told, keeping a remote log or none, and dispatching
/// as told; delivery `n` through it is accepted.
async fn accepted_through(
    n: u32,
    (records_log, queues, remote_log, dispatch): (bool, bool, bool, Option<Dispatch>),
) -> (Steps, WebhookProcessor) {
    let intake = Steps::new(records_log, queues);
    let mut builder = intake.processor(remote_log);
    if !records_log && !remote_log {
        builder = builder.event_log_config(no_log());
    }
    if let Some(dispatch) = dispatch {
        builder = builder.dispatch(dispatch);
    }
    let processor = builder.build().unwrap();
    assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
    (intake, processor)
}

#[tokio::test]
async fn an_intake_that_does_not_fit_is_not_used() {
    let unfit: [(bool, bool, bool, Option<Dispatch>); 4] = [
        // It writes a log, but the processor keeps the in-memory one.
        (true, false, false, None),
        // It writes no log, but the processor keeps a remote one.
        (false, false, true, None),
        // Queued, and it does not push.
        (false, false, false, Some(queued())),
        (true, false, true, Some(queued())),
    ];
    for (n, case) in (10..).zip(unfit) {
        let (intake, processor) = accepted_through(n, case).await;
        assert_eq!(intake.asked(), [], "case d-{n}");
        processor.shutdown().await;
    }
}

#[tokio::test]
async fn an_intake_that_fits_is_used() {
    let fit: [(bool, bool, bool, Option<Dispatch>); 4] = [
        (false, false, false, None),
        (true, false, true, None),
        // One that pushes serves inline too.
        (true, true, true, None),
        (false, true, false, Some(queued())),
    ];
    for (n, case) in (20..).zip(fit) {
        let (intake, processor) = accepted_through(n, case).await;
        let first = intake.asked().first().cloned();
        let taken = matches!(first, Some(Asked::Claim { .. } | Asked::Enqueue { .. }));
        assert!(taken, "case d-{n}: {:?}", intake.asked());
        processor.shutdown().await;
    }
}
