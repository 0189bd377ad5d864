//! What a poison event does to a worker: `cargo run --example poison`.
//!
//! The ready server, like the `server` example (reads `WEBHOOKS_CONFIG` or
//! `./webhooks.toml`, `WEBHOOKS_BIND` overrides the address), with one
//! listener for every event of the `partner` source. It logs each event it
//! handles, except one whose body contains `"poison":true`: on that one the
//! listener aborts the whole process (`std::process::abort()`), as a
//! segfault, an out-of-memory kill or a bug in native code would.
//!
//! Run it queued on Redis (`mode = "queued"`, `provider = "redis"`) with two
//! or more instances: the event is taken over by another worker after
//! `visibility-timeout-seconds`, which dies too. Each such takeover counts
//! as an attempt, so after `max-attempts` the event is dead-lettered with
//! the reason "worker lost N times" instead of killing every worker forever,
//! and the other events go on being handled.

use webhooks::{BoxError, WebhookEvent, webhook_listener};

/// A partner: every event of the source; a poison one aborts the process.
#[webhook_listener(source = "partner", event = "*")]
async fn partner_event(event: WebhookEvent) -> Result<(), BoxError> {
    let poison = event
        .body()
        .windows(br#""poison":true"#.len())
        .any(|window| window == br#""poison":true"#);
    if poison {
        tracing::error!(
            id = event.id(),
            attempt = event.attempt(),
            "poison event: aborting"
        );
        std::process::abort();
    }
    tracing::info!(
        id = event.id(),
        event_type = event.event_type(),
        attempt = event.attempt(),
        "partner event handled"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match webhooks::Server::from_env().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
