//! Queued: what the lifecycle asks of an [`Intake`]: a delivery's one step
//! and how its answers are told to the provider, and a done job's ack with
//! its run.
//!
//! The intake here keeps the processor's own in-memory store, log and queue
//! and takes the steps one after the other, as the separate traits would,
//! writing down what it was asked; the Redis intake is tested against Redis
//! in the workspace's `tests/redis_intake.rs`.

mod intake_support;

use intake_support::*;

// ---------------------------------------------------------------------------
// Queued: one step through the intake.

#[tokio::test]
async fn queued_the_intake_takes_the_delivery_in_one_step_and_acks_with_its_run() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    assert_eq!(deliver(&processor, 30).await.unwrap(), accepted(30));
    let record = record_once(&intake.0.log, 30, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!(record.attempts, 1);
    let asked = intake.asked();
    let Asked::Enqueue {
        key,
        ttl,
        capacity,
        headers,
        received,
    } = &asked[0]
    else {
        panic!("{asked:?}");
    };
    assert_eq!(
        (key.as_str(), *ttl, *capacity),
        ("github:d-30", Duration::from_secs(600), 7)
    );
    // What the queue keeps never holds a credential.
    let headers = String::from_utf8_lossy(headers);
    assert!(headers.contains("x-github-delivery: d-30"), "{headers}");
    assert!(!headers.contains("authorization"), "{headers}");
    assert_eq!(received.as_ref(), Some(&arrived(30, true)));
    assert_eq!(
        asked[1..],
        [Asked::Ack {
            run: Some(("github".into(), "d-30".into(), EventStatus::Succeeded)),
        }]
    );
    assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    // A redelivery: the intake's answer, and nothing queued.
    assert_eq!(
        deliver(&processor, 30).await.unwrap(),
        Processed::Duplicate { id: "d-30".into() }
    );
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_without_a_log_the_intake_is_given_no_arrival_and_no_run() {
    let intake = Steps::new(false, true);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .dispatch(queued())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 31).await.unwrap(), accepted(31));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while intake.asked().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            intake.asked()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let asked = intake.asked();
    assert!(
        matches!(&asked[0], Asked::Enqueue { received: None, .. }),
        "{asked:?}"
    );
    assert_eq!(asked[1], Asked::Ack { run: None });
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_the_intakes_other_answers_are_the_deliverys() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    let answers = [
        (
            Ok(Enqueued::Completed),
            Ok(Processed::Duplicate { id: "d-40".into() }),
        ),
        (Ok(Enqueued::InProgress), Err("in progress")),
        (Err("down"), Err("unavailable")),
    ];
    for (answer, expected) in answers {
        intake.answer_enqueue(answer);
        let processed = deliver(&processor, 40).await;
        match (expected, processed) {
            (Ok(expected), Ok(processed)) => assert_eq!(expected, processed),
            (Err("in progress"), Err(ProcessError::InProgress { id })) => assert_eq!(id, "d-40"),
            (Err("unavailable"), Err(ProcessError::Unavailable(_))) => {}
            (expected, processed) => panic!("{expected:?}: {processed:?}"),
        }
        // Counted while it was being queued, and no more.
        assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    }
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_a_full_queue_is_503_and_recorded_as_failed() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    intake.answer_enqueue(Ok(Enqueued::Full));
    assert!(matches!(
        deliver(&processor, 41).await,
        Err(ProcessError::QueueFull)
    ));
    assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    let record = record_once(&intake.0.log, 41, |r| r.status == EventStatus::Failed).await;
    let error = record.error.unwrap_or_default();
    assert!(error.contains("queue full"), "{error}");
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_an_ack_that_fails_is_counted_as_a_log_error() {
    let intake = Steps::new(true, true).failing_acks();
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    assert_eq!(deliver(&processor, 50).await.unwrap(), accepted(50));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(&processor, "webhooks_event_log_errors_total") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            intake.asked()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    processor.shutdown().await;
}

#[tokio::test]
async fn inline_a_claim_lost_at_completion_is_503_and_recorded_with_why() {
    let intake = Steps::new(true, false);
    intake.0.complete_lost.store(true, Ordering::Relaxed);
    let processor = intake.processor(true).build().unwrap();
    assert!(matches!(
        deliver(&processor, 40).await,
        Err(ProcessError::ClaimLost { .. })
    ));
    // Nothing was written by the step that did not take: the lifecycle
    // records the run, with why, itself.
    let record = record_once(&intake.0.log, 40, |r| r.error.is_some()).await;
    assert_eq!(record.status, EventStatus::Succeeded);
    assert!(record.error.unwrap().contains("claim lost"));
    assert_eq!(record.listeners.len(), 1, "the listener's run is kept");
}
