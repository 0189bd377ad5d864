//! The ready server: `cargo run --release --example server`.
//!
//! Reads `WEBHOOKS_CONFIG` (or `./webhooks.toml`); with neither, it asks for
//! the built-in development configuration by name
//! (`Server::from_env_or_development`): `stripe`, `github` and `partner`
//! sources with published secrets, on loopback addresses only. The library's
//! `Server::from_env()` has no such fallback. `WEBHOOKS_BIND` overrides the
//! address. Ctrl-C or SIGTERM stops it gracefully.
//!
//! The listeners below are found through `#[webhook_listener]` alone: no
//! registration call.
//!
//! To see a failure retried, dead-lettered and replayed without writing
//! code: while a file named `payments-down` exists in the directory the
//! server runs in, the Stripe listener fails (README, "Operating it day to
//! day"; `examples/operations.toml` is a configuration for it).

use webhooks::{BoxError, WebhookEvent, webhook_listener};

/// While this file exists, the Stripe listener fails: a stand-in for a
/// downstream service that is down.
const PAYMENTS_DOWN: &str = "payments-down";

/// Stripe: one exact event type.
#[webhook_listener(source = "stripe", event = "payment_intent.succeeded")]
async fn payment_succeeded(event: &WebhookEvent) -> Result<(), BoxError> {
    if std::path::Path::new(PAYMENTS_DOWN).exists() {
        return Err(format!("the payment service is down (./{PAYMENTS_DOWN} exists)").into());
    }
    let payload: serde_json::Value = event.json()?;
    let intent = &payload["data"]["object"];
    tracing::info!(
        id = event.id(),
        payment_intent = %intent["id"],
        amount = %intent["amount"],
        "payment succeeded"
    );
    Ok(())
}

/// GitHub: an event without an action.
#[webhook_listener(source = "github", event = "push")]
async fn pushed(event: &WebhookEvent) -> Result<(), BoxError> {
    let payload: serde_json::Value = event.json()?;
    tracing::info!(delivery = event.id(), git_ref = %payload["ref"], "push");
    Ok(())
}

/// GitHub: an event joined with its action (`issues` + `opened`).
#[webhook_listener(source = "github", event = "issues.opened")]
async fn issue_opened(event: &WebhookEvent) -> Result<(), BoxError> {
    let payload: serde_json::Value = event.json()?;
    tracing::info!(delivery = event.id(), title = %payload["issue"]["title"], "issue opened");
    Ok(())
}

/// A custom partner: every event of the source.
#[webhook_listener(source = "partner", event = "*")]
async fn partner_event(event: WebhookEvent) -> Result<(), BoxError> {
    tracing::info!(
        id = event.id(),
        event_type = event.event_type(),
        bytes = event.body().len(),
        "partner event"
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
    match webhooks::Server::from_env_or_development().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The message (it names the key), not the Debug form.
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
