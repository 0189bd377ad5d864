//! The built-in sample deliveries: a small, realistic payload per provider,
//! shaped like the provider's own documentation examples, with a fresh id
//! every time so that two sends are two events.

use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use webhooks_core::config::{SourceConfig, ValidatorKind};

/// The event type a sample carries when `--event` is not given.
pub(crate) fn default_event(kind: ValidatorKind) -> &'static str {
    match kind {
        ValidatorKind::Stripe => "payment_intent.succeeded",
        ValidatorKind::Github => "push",
        ValidatorKind::Slack => "app_mention",
        ValidatorKind::Standard => "invoice.paid",
        ValidatorKind::Shopify => "orders/create",
        ValidatorKind::Gitlab => "Push Hook",
        ValidatorKind::Square => "payment.updated",
        ValidatorKind::Paddle => "transaction.completed",
        ValidatorKind::Linear => "Issue.create",
        ValidatorKind::Discord => "APPLICATION_AUTHORIZED",
        _ => "order.paid",
    }
}

/// A fresh id: 24 hex digits from the clock, the process and a random key.
pub(crate) fn fresh_id() -> String {
    let nanos = now().as_nanos();
    let random = RandomState::new().hash_one((nanos, std::process::id()));
    format!("{:08x}{random:016x}", nanos as u32)
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The JSON sample for `kind` with event type `event`; `id` is its fresh
/// id. The generic schemes (`hmac`, `none`) put the type where the source
/// reads it (`event-type-field`, `type` by default).
pub(crate) fn json_body(kind: ValidatorKind, table: &SourceConfig, event: &str, id: &str) -> Value {
    let created = now().as_secs();
    let (head, action) = match event.split_once('.') {
        Some((head, action)) => (head, Some(action)),
        None => (event, None),
    };
    match kind {
        ValidatorKind::Stripe => json!({
            "id": format!("evt_{id}"), "object": "event", "api_version": "2024-06-20",
            "created": created, "livemode": false, "type": event,
            "data": {"object": {"id": format!("pi_{id}"), "object": "payment_intent",
                "amount": 2000, "currency": "usd", "status": "succeeded"}},
        }),
        ValidatorKind::Github => github(head, action, id),
        ValidatorKind::Slack => json!({
            "type": "event_callback", "team_id": "T0001", "api_app_id": "A0001",
            "event_id": format!("Ev{id}"), "event_time": created,
            "event": {"type": event, "user": "U0001", "text": "<@U0002> hello",
                "channel": "C0001", "ts": format!("{created}.000100")},
        }),
        ValidatorKind::Standard => json!({
            "type": event, "timestamp": created,
            "data": {"id": format!("inv_{id}"), "amount": 2000, "currency": "usd"},
        }),
        ValidatorKind::Shopify => json!({
            "id": u64::from_str_radix(&id[..12], 16).unwrap_or(1), "email": "jon@example.com",
            "total_price": "20.00", "currency": "USD", "financial_status": "paid",
        }),
        ValidatorKind::Gitlab => json!({
            "object_kind": "push", "ref": "refs/heads/main", "checkout_sha": sha(id),
            "project": {"id": 15, "path_with_namespace": "group/project"},
            "user_username": "jsmith",
        }),
        ValidatorKind::Square => json!({
            "merchant_id": "MLEFBHHSJGVHD", "type": event, "event_id": id,
            "created_at": created,
            "data": {"type": "payment", "id": id, "object": {"payment": {"status": "COMPLETED"}}},
        }),
        ValidatorKind::Paddle => json!({
            "event_id": format!("evt_{id}"), "event_type": event, "occurred_at": created,
            "data": {"id": format!("txn_{id}"), "status": "completed"},
        }),
        ValidatorKind::Linear => json!({
            "type": head, "action": action.unwrap_or("create"),
            // Linear's replay guard: milliseconds, within a minute of now.
            "webhookTimestamp": now().as_millis() as u64,
            "data": {"id": id, "title": "Sample issue"},
        }),
        ValidatorKind::Discord => json!({
            "version": 1, "application_id": "1234567890", "type": 1, "id": id,
            "event": {"type": event, "timestamp": created, "data": {"scopes": ["applications.commands"]}},
        }),
        _ => generic(table, event, id),
    }
}

/// GitHub's `push`, or an `<event>.<action>` such as `issues.opened`.
fn github(event: &str, action: Option<&str>, id: &str) -> Value {
    let repository = json!({"full_name": "octo-org/octo-repo", "private": false});
    let sender = json!({"login": "octocat"});
    match action {
        None if event == "push" => json!({
            "ref": "refs/heads/main", "before": sha("0"), "after": sha(id),
            "repository": repository, "sender": sender,
        }),
        None => json!({"repository": repository, "sender": sender, "id": id}),
        Some(action) => json!({
            "action": action,
            event.trim_end_matches('s'): {"id": u64::from_str_radix(&id[..12], 16).unwrap_or(1),
                "number": 1, "title": "Sample", "state": "open"},
            "repository": repository, "sender": sender,
        }),
    }
}

/// `hmac` and `none`: an id and the type at `event-type-field` (dotted
/// paths nest).
fn generic(table: &SourceConfig, event: &str, id: &str) -> Value {
    let field = table.event_type_field.as_deref().unwrap_or("type");
    let mut typed = Value::String(event.to_owned());
    for part in field.rsplit('.') {
        typed = json!({ part: typed });
    }
    let mut body = json!({"id": id, "data": {"object": "order", "amount": 2000}});
    if let (Some(body), Some(typed)) = (body.as_object_mut(), typed.as_object()) {
        body.extend(typed.clone());
    }
    body
}

/// A 40-digit hex commit id made from `seed`.
fn sha(seed: &str) -> String {
    format!("{seed:0>40}").chars().rev().take(40).collect()
}

/// Twilio's incoming-message form.
pub(crate) fn twilio_params(id: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", format!("SM{id}")),
        (
            "AccountSid",
            "AC00000000000000000000000000000000".to_owned(),
        ),
        ("From", "+15005550006".to_owned()),
        ("To", "+15005550001".to_owned()),
        ("Body", "Hello from webhooks send".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}
