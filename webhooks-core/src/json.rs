//! `Json<T>`: an event's body, deserialized for a typed listener.

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;

use crate::WebhookEvent;

/// An event's JSON body, deserialized into `T`: what a typed
/// `#[webhook_listener]` takes instead of the [`WebhookEvent`].
///
/// The body is deserialized each time the listener runs. A body that does
/// not fit `T` is that listener's permanent failure ([`crate::Permanent`]):
/// reported to its `on_error` and recorded, but not retried, since the same
/// body would fail again (inline, the answer is `200 {"status":"failed"}`;
/// queued, the event goes to the dead letters at once). The other listeners
/// of the event still run.
///
/// ```
/// use serde::Deserialize;
/// use webhooks_core::{Json, WebhookEvent};
///
/// #[derive(Debug, Deserialize)]
/// struct Invoice {
///     id: String,
///     amount_paid: u64,
/// }
///
/// let event = WebhookEvent::new("billing", "invoice.paid", "evt_1", r#"{"id":"in_1","amount_paid":900}"#);
/// let Json(invoice) = Json::<Invoice>::from_event(&event).unwrap();
/// assert_eq!(invoice.id, "in_1");
/// assert_eq!(invoice.amount_paid, 900);
///
/// let event = WebhookEvent::new("billing", "invoice.paid", "evt_2", r#"{"id":"in_2"}"#);
/// let error = Json::<Invoice>::from_event(&event).unwrap_err();
/// assert!(error.to_string().contains("missing field `amount_paid`"), "{error}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// Deserializes the event's body into `T`.
    ///
    /// The error names `T` and gives serde's reason, without the body.
    pub fn from_event(event: &WebhookEvent) -> Result<Self, JsonBodyError>
    where
        T: DeserializeOwned,
    {
        serde_json::from_slice(event.body())
            .map(Json)
            .map_err(|error| JsonBodyError {
                type_name: std::any::type_name::<T>(),
                reason: reason(&error),
                line: error.line(),
                column: error.column(),
            })
    }

    /// The deserialized value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Json<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// An event's body that does not deserialize into a typed listener's type.
///
/// The message names the type and gives serde's reason with its line and
/// column. It does not contain the body: the string values that serde
/// quotes (`invalid type: string "…"`) are left out.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the event body does not deserialize into `{type_name}`: {reason}")]
pub struct JsonBodyError {
    type_name: &'static str,
    reason: String,
    line: usize,
    column: usize,
}

impl JsonBodyError {
    /// The type the body was deserialized into, as `std::any::type_name`
    /// gives it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Where in the body deserialization failed: 1-based line and column.
    pub fn position(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

/// serde's message, without the string value it quotes from the body in
/// `invalid type: string "…", expected …` (and `invalid value:`).
fn reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    for marker in ["invalid type: string ", "invalid value: string "] {
        let Some(at) = message.find(marker) else {
            continue;
        };
        let value = at + marker.len();
        // The last one: the value itself may contain `, expected `.
        if let Some(end) = message[value..].rfind(", expected ") {
            return format!("{}{}", &message[..value - 1], &message[value + end..]);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Subscription {
        id: String,
        status: String,
    }

    fn event(body: &'static str) -> WebhookEvent {
        WebhookEvent::new("stripe", "customer.subscription.updated", "evt_1", body)
    }

    #[test]
    fn a_fitting_body_is_deserialized() {
        let Json(subscription) =
            Json::<Subscription>::from_event(&event(r#"{"id":"sub_1","status":"active"}"#))
                .unwrap();
        assert_eq!(
            subscription,
            Subscription {
                id: "sub_1".into(),
                status: "active".into()
            }
        );
    }

    #[test]
    fn the_error_names_the_type_and_the_reason() {
        let error = Json::<Subscription>::from_event(&event(r#"{"id":"sub_1"}"#)).unwrap_err();
        assert!(error.type_name().ends_with("Subscription"));
        assert_eq!(error.position(), (1, 14));
        let message = error.to_string();
        assert!(
            message.starts_with("the event body does not deserialize into `")
                && message.contains("Subscription`: missing field `status`"),
            "{message}"
        );
    }

    #[test]
    fn the_error_does_not_contain_the_body() {
        let body = r#"{"id":"sub_1","status":"active","card":"4242424242424242"}"#;
        let error = Json::<u64>::from_event(&event(body)).unwrap_err();
        assert!(!error.to_string().contains("4242"), "{error}");
        let error = Json::<Subscription>::from_event(&event("not json")).unwrap_err();
        assert!(!error.to_string().contains("not json"), "{error}");

        // serde quotes a string where a number was expected; it is left out.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Charge {
            amount: u64,
        }
        let body = r#"{"amount":"jane@example.com, expected \"x\""}"#;
        let error = Json::<Charge>::from_event(&event(body)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.ends_with("Charge`: invalid type: string, expected u64 at line 1 column 44"),
            "{message}"
        );
        assert!(!message.contains("jane"), "{message}");
        let error = Json::<bool>::from_event(&event(r#""jane""#)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the event body does not deserialize into `bool`: \
             invalid type: string, expected a boolean at line 1 column 6"
        );
    }
}
