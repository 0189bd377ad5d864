//! The built-in development configuration, used when no file is given to a
//! server that asks for it by name
//! ([`Server::from_env_or_development`](crate::Server::from_env_or_development)).

use std::net::SocketAddr;

use webhooks_core::Config;
use webhooks_core::config::WebhooksConfig;

use crate::ServeError;

/// The development sources: each secret from its environment variable when
/// set, else a fixed development value documented in the README.
const SOURCES: [(&str, &str, &str, &str); 3] = [
    (
        "stripe",
        "stripe",
        "STRIPE_WEBHOOK_SECRET",
        "whsec_development_only",
    ),
    (
        "github",
        "github",
        "GITHUB_WEBHOOK_SECRET",
        "development-only",
    ),
    (
        "partner",
        "hmac",
        "PARTNER_WEBHOOK_SECRET",
        "development-only",
    ),
];

/// The configuration of
/// [`Server::from_env_or_development`](crate::Server::from_env_or_development)
/// when neither `WEBHOOKS_CONFIG` nor `./webhooks.toml` is there: `stripe`,
/// `github` and `partner` sources on `127.0.0.1:3000`, each secret from its
/// environment variable, else a development value published in the README,
/// with the `WEBHOOKS__…` variables set on it as on a file. Logs each source and where its secret comes from, never the secret.
///
/// ```
/// let config = webhooks_hyper::development_config().unwrap();
/// assert_eq!(config.bind, "127.0.0.1:3000");
/// assert!(config.sources.contains_key("partner"));
/// ```
pub fn development_config() -> Result<WebhooksConfig, ServeError> {
    tracing::warn!(
        "no configuration file (WEBHOOKS_CONFIG unset, ./webhooks.toml absent): \
         using the built-in development configuration"
    );
    let mut text = String::new();
    for (name, validator, var, fallback) in SOURCES {
        let from_env = std::env::var(var).ok().filter(|value| !value.is_empty());
        let origin = if from_env.is_some() {
            format!("environment variable {var}")
        } else {
            format!("the built-in development secret (set {var} to choose your own; see README)")
        };
        tracing::info!("development source {name}: validator {validator}, secret from {origin}");
        let secret = from_env.unwrap_or_else(|| fallback.to_owned());
        text.push_str(&format!(
            "[webhooks.sources.{name}]\nvalidator = \"{validator}\"\nsecret = {}\n",
            toml_string(&secret)
        ));
    }
    // The `WEBHOOKS__…` variables apply here too (`WEBHOOKS_BIND` above all).
    Ok(Config::from_toml_with_env(&text, std::env::vars_os())?.webhooks)
}

/// Refuses any address but a loopback one: the development secrets are
/// published, so anyone who can reach the port could sign events.
pub(crate) fn check_loopback(bind: &str) -> Result<(), ServeError> {
    let addr: SocketAddr = bind
        .parse()
        .map_err(|_| webhooks_core::ConfigError::invalid("webhooks.bind", "not an address"))?;
    if !addr.ip().is_loopback() {
        return Err(ServeError::DevelopmentNotLoopback { addr });
    }
    Ok(())
}

/// Logs how to send a signed test event to the development server at `bind`
/// (the address after `WEBHOOKS_BIND`, not the configuration's default).
pub(crate) fn log_try_it(bind: &str) {
    if std::env::var_os("PARTNER_WEBHOOK_SECRET").is_none() {
        tracing::info!(
            "to send a signed test event, first export PARTNER_WEBHOOK_SECRET set to the partner \
             development secret (README.md, \"The development configuration\")"
        );
    }
    tracing::info!(
        "send a signed test event: body='{{\"type\":\"order.created\"}}'; \
         sig=$(printf %s \"$body\" | openssl dgst -sha256 -hmac \"$PARTNER_WEBHOOK_SECRET\" | cut -d' ' -f2); \
         curl -i http://{bind}/webhooks/partner -H \"X-Signature: sha256=$sig\" -d \"$body\""
    );
}

/// A TOML basic string holding `value`.
fn toml_string(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
