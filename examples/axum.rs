//! Mounting the webhook endpoint inside an axum application.
//!
//! `cargo run --example axum`, then `POST http://127.0.0.1:3001/hooks/webhooks/github`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use webhooks::{
    BoxError, GitHubSignatureValidator, PeerAddr, WebhookEvent, WebhookProcessor, WebhookService,
    webhook_listener,
};

#[webhook_listener(source = "github", event = "push")]
async fn pushed(event: &WebhookEvent) -> Result<(), BoxError> {
    println!("push delivery {}", event.id());
    Ok(())
}

/// Hands the TCP peer to the webhook service, which checks a source's
/// `allow-ips` against it; without it, such a source refuses everyone.
async fn with_peer(ConnectInfo(peer): ConnectInfo<SocketAddr>, mut request: Request) -> Request {
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret =
        std::env::var("GITHUB_WEBHOOK_SECRET").unwrap_or_else(|_| "development-only".into());
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(secret)?)
        .build()?;
    let app = Router::new()
        .route("/", get(|| async { "the application's own routes" }))
        // The service answers /webhooks/{source}, /healthz, /readyz and /metrics
        // below the prefix it is nested at; `.webhook_routes_only()` leaves the
        // last three to an application that has its own.
        .nest_service("/hooks", WebhookService::new(processor))
        .layer(axum::middleware::map_request(with_peer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
