//! `webhooks check-config`: the file resolved as the server resolves it at
//! start-up, and what it serves.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};
use webhooks_core::config::{DispatchMode, StoreProvider};

use crate::config::Loaded;
use crate::output::Failure;

/// Loads `path`, and prints its sources on success.
pub(crate) fn run(path: &Path, json: bool) -> Result<ExitCode, Failure> {
    let loaded = Loaded::from_file(path)?;
    let report = report(path, &loaded);
    if json {
        println!("{report}");
    } else {
        print!("{}", text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything printed, as one JSON document; never a secret.
fn report(path: &Path, loaded: &Loaded) -> Value {
    let webhooks = &loaded.webhooks;
    let sources: Vec<Value> = loaded
        .sources
        .iter()
        .map(|source| {
            let table = &webhooks.sources[&source.name];
            json!({
                "name": source.name,
                "path": format!("POST /webhooks/{}", source.name),
                "validator": source.kind.name(),
                "secret_from": source.secret_origin,
                "allow_ips": table.allow_ips,
            })
        })
        .collect();
    json!({
        "valid": true,
        "config": path.display().to_string(),
        "enabled": webhooks.enabled,
        "bind": webhooks.bind,
        "bind_from": loaded.bind_override.as_deref().unwrap_or("the configuration file"),
        "dispatch": match webhooks.dispatch.mode {
            DispatchMode::Inline => "inline",
            DispatchMode::Queued => "queued",
        },
        "provider": match webhooks.idempotency.provider {
            StoreProvider::InMemory => "in-memory",
            StoreProvider::Redis => "redis",
        },
        "sources": sources,
    })
}

/// The same report for a person.
fn text(report: &Value) -> String {
    let field = |key: &str| report[key].as_str().unwrap_or_default().to_owned();
    let mut out = format!("{}: valid\n", field("config"));
    out += &format!("bind: {} (from {})\n", field("bind"), field("bind_from"));
    out += &format!("dispatch: {}\n", field("dispatch"));
    out += &format!("provider: {}\n", field("provider"));
    if report["enabled"] == Value::Bool(false) {
        out += "enabled = false: no webhook route is mounted\n";
    }
    let sources = report["sources"].as_array().cloned().unwrap_or_default();
    out += &format!("sources: {}\n", sources.len());
    for source in sources {
        let field = |key: &str| source[key].as_str().unwrap_or_default().to_owned();
        out += &format!(
            "  {}: {}, validator {}, secret from {}\n",
            field("name"),
            field("path"),
            field("validator"),
            field("secret_from")
        );
        if let Some(cidrs) = source["allow_ips"].as_array() {
            let cidrs: Vec<&str> = cidrs.iter().filter_map(Value::as_str).collect();
            out += &format!("    allow-ips: {}\n", cidrs.join(", "));
        }
    }
    out
}
