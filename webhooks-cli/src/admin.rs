//! The admin API's client: where it is, its token, one request at a time.

use std::path::Path;
use std::time::Duration;

use std::process::ExitCode;

use serde_json::{Value, json};
use webhooks_core::Config;

use crate::output::Failure;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the admin API is and how to speak to it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AdminArgs {
    /// The admin API's base URL (default `http://{[webhooks.admin] bind}`).
    #[arg(long, global = true, env = "WEBHOOKS_ADMIN_URL", value_name = "URL")]
    pub(crate) admin_url: Option<String>,
    /// The environment variable that holds the admin token (default: the
    /// configuration's `[webhooks.admin] token-env`).
    #[arg(long, global = true, value_name = "VAR")]
    pub(crate) token_env: Option<String>,
}

/// A client of one admin API.
pub(crate) struct Admin {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// An answer of the admin API: its status and its JSON body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// The body when the status is a 2xx; otherwise the failure it means
    /// (401: exit 4; any other: exit 1), with the server's `error`.
    pub(crate) fn ok(self) -> Result<Value, Failure> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(self.failure())
    }

    pub(crate) fn failure(&self) -> Failure {
        let error = self.body["error"].as_str().unwrap_or("no reason given");
        let message = format!("the admin API answered {}: {error}", self.status);
        match self.status {
            401 => Failure::Unauthorized(message),
            _ => Failure::Refused(message),
        }
    }
}

impl Admin {
    /// The admin API of the configuration at `path` (only its
    /// `[webhooks.admin]` table is read, with the `WEBHOOKS__…` variables
    /// set on it as the server does), or of `--admin-url`.
    pub(crate) fn from_config(path: &Path, args: &AdminArgs) -> Result<Self, Failure> {
        let usage = Failure::Usage;
        let admin = match Config::load_with_env(path) {
            Ok(config) => config.webhooks.admin,
            // With both flags the file is not needed.
            Err(_) if args.admin_url.is_some() && args.token_env.is_some() => None,
            Err(error) => return Err(usage(error.to_string())),
        };
        let base = match (&args.admin_url, &admin) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(admin)) => format!("http://{}", admin.bind),
            (None, None) => {
                return Err(usage(format!(
                    "{} has no [webhooks.admin] table: give --admin-url, or add the table to the server's configuration",
                    path.display()
                )));
            }
        };
        let var = match (&args.token_env, &admin) {
            (Some(var), _) => var.clone(),
            (None, Some(admin)) => admin.token_env.clone(),
            (None, None) => {
                return Err(usage(
                    "give --token-env: the variable that holds the admin token".into(),
                ));
            }
        };
        let token = std::env::var(&var)
            .map_err(|_| usage(format!("the admin token variable `{var}` is not set")))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Ok(Self { base, token, agent })
    }

    /// `GET {base}{path}` with the query's non-empty pairs.
    pub(crate) fn get(
        &self,
        path: &str,
        query: &[(&str, Option<String>)],
    ) -> Result<Answer, Failure> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (name, value) in query {
            if let Some(value) = value {
                request = request.query(*name, value);
            }
        }
        let request = request.header("Authorization", &format!("Bearer {}", self.token));
        self.answer(path, request.call())
    }

    /// `POST {base}{path}` with no body.
    pub(crate) fn post(&self, path: &str) -> Result<Answer, Failure> {
        let request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token));
        self.answer(path, request.send_empty())
    }

    fn answer(
        &self,
        path: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let mut response = sent.map_err(|error| match error {
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                Failure::Usage(format!("cannot send to {url}: {error}"))
            }
            other => Failure::Unreachable(format!("cannot reach {url}: {other}")),
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }
}

/// How a bulk run speaks of itself: `replay`, `requeue`.
pub(crate) struct Verb {
    /// The JSON key of what was done, and the summary's word: `replayed`.
    pub(crate) done: &'static str,
    /// The line of one done: `replaying`.
    pub(crate) doing: &'static str,
}

/// POSTs `path(source, id)` for each target, with a progress bar for a bulk
/// run, and prints what was done and what was refused (text or one JSON
/// document). A refused token stops the run (exit 4); otherwise exit 1 when
/// any was refused.
pub(crate) fn post_each(
    admin: &Admin,
    targets: &[(String, String)],
    path: impl Fn(&str, &str) -> String,
    verb: &Verb,
    bulk: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let bar = bulk.then(|| progress(targets.len()));
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for (source, id) in targets {
        let answer = admin.post(&path(&segment(source), &segment(id)))?;
        match answer.status {
            200..=299 => done.push(json!({"source": source, "id": id})),
            401 => return Err(answer.failure()),
            status => {
                let error = answer.body["error"].as_str().unwrap_or("no reason given");
                failed.push(json!({"source": source, "id": id, "status": status, "error": error}));
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let text = |value: &Value, key: &str| value[key].as_str().unwrap_or_default().to_owned();
    if json {
        println!("{}", json!({ verb.done: done, "failed": failed }));
    } else {
        for one in &done {
            println!("{} {} {}", verb.doing, text(one, "source"), text(one, "id"));
        }
        for one in &failed {
            eprintln!(
                "not {}: {} {}: {} ({})",
                verb.done,
                text(one, "source"),
                text(one, "id"),
                text(one, "error"),
                one["status"]
            );
        }
        if bulk {
            println!("{} {}, {} not", done.len(), verb.done, failed.len());
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn progress(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// A path segment, percent-encoded: ids such as `sha256:…` or with `/`.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A time as `--since` and `--until` take it: RFC 3339, or a duration
/// before now such as `2h` or `30m`; written back as RFC 3339.
pub(crate) fn time(text: &str) -> Result<String, Failure> {
    if let Some(at) = webhooks_core::event_log::parse_time(text) {
        return Ok(webhooks_core::event_log::format_time(at));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        Failure::Usage(format!(
            "`{text}` is neither an RFC 3339 time (2026-11-30T12:00:00Z) nor a duration (2h, 30m)"
        ))
    })?;
    let at = std::time::SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| Failure::Usage(format!("`{text}` reaches before 1970")))?;
    Ok(webhooks_core::event_log::format_time(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("evt_1"), "evt_1");
        assert_eq!(segment("sha256:ab/c d"), "sha256%3Aab%2Fc%20d");
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        assert_eq!(
            time("2026-11-30T12:00:00Z").unwrap(),
            "2026-11-30T12:00:00.000Z"
        );
        assert!(time("2h").unwrap().ends_with('Z'));
        assert!(matches!(time("yesterday"), Err(Failure::Usage(_))));
    }
}
