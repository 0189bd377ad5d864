//! Receive webhooks in production: verified, idempotent, async event intake.
//!
//! A provider's signed `POST` is verified on its raw bytes (constant time,
//! replay window), deduplicated by its delivery id, recorded, answered, and
//! handed to the functions you annotate, with retries, so no event is lost
//! and none is handled twice.
//!
//! The common path: annotate a function, serve in one line.
//!
//! ```no_run
//! use webhooks::{WebhookEvent, webhook_listener};
//!
//! #[webhook_listener(source = "stripe", event = "payment_intent.succeeded")]
//! async fn payment_succeeded(event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
//!     let payload: serde_json::Value = event.json()?;
//!     println!("paid: {}", payload["data"]["object"]["id"]);
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), webhooks::ServeError> {
//!     // Reads WEBHOOKS_CONFIG (or ./webhooks.toml; neither is a start-up error),
//!     // serves until Ctrl-C / SIGTERM.
//!     webhooks::Server::from_env().await
//! }
//! ```
//!
//! The configuration file names each source, its validator and its secret:
//!
//! ```toml
//! [webhooks.sources.stripe]
//! validator = "stripe"
//! secret-env = "STRIPE_WEBHOOK_SECRET"
//! ```
//!
//! Without HTTP, [`WebhookProcessor::process`] does the same work for any
//! transport. Features: `macros` and `hyper` (default), `redis`, `testing`
//! (signed test deliveries and a test client: `webhooks::testing`).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
#[cfg(feature = "hyper")]
mod server;

pub use webhooks_core::{
    BodyHasher, BodyMacs, BoxError, BoxFuture, BuildError, Claim, Clock, Config, ConfigError,
    DeadLetter, DiscordSignatureValidator, Dispatch, DuplicateListener, EventLog, EventMeta,
    EventParseError, EventQueue, EventRecord, EventStatus, GitHubSignatureValidator,
    GitLabSignatureValidator, Handshake, Headers, HmacSignatureValidator, IdempotencyStore,
    InMemoryEventLog, InMemoryEventQueue, InMemoryWebhookEventStore, InvalidHeader, InvalidSecret,
    InvalidSignedPayload, Json, JsonBodyError, Lease, LinearSignatureValidator, MAX_SIGNATURES,
    Metrics, NoOpSignatureValidator, PaddleSignatureValidator, Permanent, ProcessError, Processed,
    ProcessorBuilder, Route, Secret, Secrets, ShopifySignatureValidator, SignatureError,
    SignatureValidator, SignedPayload, SignedRequest, SlackSignatureValidator,
    SquareSignatureValidator, StandardSignatureValidator, StoreError, StripeSignatureValidator,
    TwilioSignatureValidator, WebhookEvent, WebhookListener, WebhookProcessor, backoff,
    body_sha256_key, config, event_log, intake, metrics, queue, request_url,
};

pub use self::backend::storage_from_config;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use self::server::Server;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use webhooks_macros::webhook_listener;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use webhooks_hyper as hyper;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use webhooks_hyper::{PeerAddr, ServeError, WebhookService};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use webhooks_redis as redis;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing {
    //! Test your own listeners (feature `testing`): deliveries signed the
    //! way each provider signs them, sent to a processor or, with `hyper`,
    //! to a running server.
    //!
    //! Build a processor for the source under test, send it a signed event,
    //! assert. [`processor`] keeps your `#[webhook_listener]` functions for
    //! that source and leaves out those of your other sources:
    //!
    //! ```
    //! use webhooks::{Processed, StripeSignatureValidator, testing};
    //!
    //! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    //! let validator = StripeSignatureValidator::new("whsec_test").unwrap();
    //! let processor = testing::processor("stripe", validator).build().unwrap();
    //! let body = r#"{"id":"evt_1","type":"invoice.paid"}"#;
    //! let processed = testing::stripe("whsec_test", body).send_to(&processor, "stripe").await;
    //! assert_eq!(processed.unwrap(), Processed::Accepted { id: "evt_1".into() });
    //! # });
    //! ```
    //!
    //! [`SignedEvent`] has one constructor per scheme;
    //! [`SignedEvent::to_http_request`] makes it a request for a mounted
    //! `WebhookService` (`tower::ServiceExt::oneshot`
    //! on an axum `Router`), and `TestClient` (with `hyper`) posts it to a
    //! server bound to `127.0.0.1:0`. See `webhooks_core::testing` for the
    //! details.

    pub use webhooks_core::testing::*;
    #[cfg(feature = "hyper")]
    #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
    pub use webhooks_hyper::testing::{TestClient, TestResponse};
}

/// What the `#[webhook_listener]` macro expands to refers to this module.
///
/// Not a stable API: its contents may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use webhooks_core::registry::{ListenerRegistration, registered_listeners};
    pub use webhooks_core::{BoxError, BoxFuture, Json, WebhookEvent};
}

/// The README's Rust blocks, compiled (and run, unless marked `no_run`) as
/// doctests by `cargo test --doc`, so that what a new user copies from it
/// compiles as shown.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
