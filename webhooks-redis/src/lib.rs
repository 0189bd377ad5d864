//! Redis backends of the `webhooks` framework: an idempotency store shared by
//! every instance, so a redelivery that lands on another instance is still
//! caught, and a restart forgets nothing; the durable queue of queued
//! dispatch; and the event log, so every instance lists and counts the same
//! records.
//!
//! Enabled by the `redis` feature of `webhooks` and selected with
//! `provider = "redis"`:
//!
//! ```toml
//! [webhooks.idempotency]
//! provider = "redis"
//! [webhooks.idempotency.redis]
//! url = "redis://127.0.0.1:6379/0"
//! ```

mod connection;
mod event_log;
mod intake;
mod queue;
mod store;

/// The Redis client's error, what connecting can fail with.
pub use redis::RedisError;

pub use self::event_log::RedisEventLog;
pub use self::intake::RedisIntake;
pub use self::queue::RedisEventQueue;
pub use self::store::RedisWebhookEventStore;
