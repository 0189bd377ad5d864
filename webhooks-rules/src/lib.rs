//! The rules that `#[webhook_listener]` checks at compile time and
//! `webhooks-core` checks at run time, written once so the two cannot
//! disagree (as `sqlx-macros-core` shares its rules with `sqlx-core`).
//!
//! Not a stable API of its own: use the `webhooks` crate.

mod pattern;
mod source;

pub use self::pattern::EventPattern;
pub use self::source::check_source_name;
