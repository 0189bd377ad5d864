//! The core of the `webhooks` framework: events, signature validators,
//! idempotency stores, listeners and the processor.
//!
//! Applications use it through the `webhooks` crate, which re-exports it
//! with the `#[webhook_listener]` macro and the ready server.
//!
//! ```
//! use webhooks_core::{GitHubSignatureValidator, Headers, Processed, WebhookEvent, WebhookListener, WebhookProcessor};
//!
//! struct OnPush;
//!
//! impl WebhookListener for OnPush {
//!     type Error = std::convert::Infallible;
//!     fn source(&self) -> &str { "github" }
//!     fn event(&self) -> &str { "push" }
//!     async fn handle(&self, event: &WebhookEvent) -> Result<(), Self::Error> {
//!         println!("push {}", event.id());
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let processor = WebhookProcessor::builder()
//!     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
//!     .listener(OnPush)
//!     .build()
//!     .unwrap();
//! let body = br#"{"ref":"refs/heads/main"}"#;
//! let headers = Headers::new()
//!     .with("X-GitHub-Event", "push")
//!     .with("X-GitHub-Delivery", "1")
//!     .with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", body));
//! let first = processor.process("github", body.as_slice(), headers.clone()).await.unwrap();
//! let again = processor.process("github", body.as_slice(), headers).await.unwrap();
//! assert_eq!(first, Processed::Accepted { id: "1".into() });
//! assert_eq!(again, Processed::Duplicate { id: "1".into() });
//! # });
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
mod error;
mod event;
pub mod event_log;
mod headers;
pub mod intake;
mod json;
mod lifecycle;
mod listener;
pub mod metrics;
mod outcome;
mod permanent;
mod processor;
pub mod queue;
/// What `#[webhook_listener]` expands to registers here; not a stable API.
#[doc(hidden)]
pub mod registry;
mod secret;
mod source;
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod validator;

use std::future::Future;
use std::pin::Pin;

pub use self::config::{Config, ConfigError};
pub use self::error::BuildError;
pub use self::event::WebhookEvent;
pub use self::event_log::{EventLog, EventRecord, EventStatus, InMemoryEventLog};
pub use self::headers::{Headers, InvalidHeader};
pub use self::json::{Json, JsonBodyError};
pub use self::lifecycle::backoff;
pub use self::listener::WebhookListener;
pub use self::metrics::Metrics;
pub use self::outcome::{ProcessError, Processed, delivery_span};
pub use self::permanent::Permanent;
pub use self::processor::{Dispatch, ProcessorBuilder, Route, WebhookProcessor};
pub use self::queue::{DeadLetter, EventQueue, InMemoryEventQueue};
pub use self::registry::DuplicateListener;
pub use self::secret::{InvalidSecret, Secret, Secrets};
pub use self::store::{Claim, IdempotencyStore, InMemoryWebhookEventStore, Lease, StoreError};
pub use self::validator::{
    BodyHasher, BodyMacs, Clock, DiscordSignatureValidator, EventMeta, EventParseError,
    GitHubSignatureValidator, GitLabSignatureValidator, Handshake, HmacSignatureValidator,
    InvalidSignedPayload, LinearSignatureValidator, MAX_SIGNATURES, NoOpSignatureValidator,
    PaddleSignatureValidator, ShopifySignatureValidator, SignatureError, SignatureValidator,
    SignedPayload, SignedRequest, SlackSignatureValidator, SquareSignatureValidator,
    StandardSignatureValidator, StripeSignatureValidator, TwilioSignatureValidator,
    body_sha256_key, request_url,
};

/// A boxed error, what listeners fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, sendable future, what object-safe async traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
