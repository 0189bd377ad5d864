//! `webhooks send`: sign a delivery for a configured source and POST it.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use webhooks_core::config::SourceConfig;
use webhooks_core::testing::SignedEvent;

use crate::SendArgs;
use crate::config::{Loaded, signing_secret};
use crate::output::Failure;
use crate::sign::Request;

/// How long the whole exchange may take before the server counts as
/// unreachable: longer than the server's own default request timeout.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Signs, sends, prints the answer; exit 0 on a 2xx, 1 on any other status.
pub(crate) fn run(config: &Path, args: &SendArgs, json: bool) -> Result<ExitCode, Failure> {
    let loaded = Loaded::from_file(config)?;
    let (resolved, table) = loaded.source(&args.source)?;
    let extra = parse_headers(&args.headers)?;
    // The event goes into headers for some schemes: it must be a header value.
    if let Some(event) = &args.event {
        if event.is_empty()
            || !event
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' ')
        {
            return Err(Failure::Usage(format!(
                "--event {event:?}: expected printable ASCII"
            )));
        }
    }
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| loaded.default_url(&args.source));
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return Err(Failure::Usage(format!(
            "--url {url}: `send` speaks plain HTTP, as the server does on its `bind`; \
             give that http:// address (a TLS proxy in front forwards to it)"
        )));
    }
    let request = Request {
        kind: resolved.kind,
        table,
        secret: signing_secret(table),
        body: args.body.as_deref().map(read_body).transpose()?,
        event: args.event.as_deref(),
        signed_url: signed_url(table, &url)?,
        signing_key_env: args.signing_key_env.as_deref(),
    };
    let event = request.sign()?;
    let (status, answer) = post(&url, &event, &extra)?;
    print_answer(&args.source, &url, status, &answer, json);
    Ok(if (200..300).contains(&status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--header 'Name: value'`, each checked.
fn parse_headers(headers: &[String]) -> Result<Vec<(String, String)>, Failure> {
    headers
        .iter()
        .map(|header| match header.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(Failure::Usage(format!(
                "--header {header:?}: expected `Name: value`"
            ))),
        })
        .collect()
}

/// `--body FILE`, or standard input for `-`.
fn read_body(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut body).map(drop)
    } else {
        std::fs::read(path).map(|bytes| body = bytes)
    };
    read.map_err(|error| Failure::Usage(format!("--body {}: {error}", path.display())))?;
    Ok(body)
}

/// The URL Twilio and Square sign: the source's `public-url` with the
/// target's path and query, as the server rebuilds it; else the target,
/// whose host the server reads back from `Host`.
fn signed_url(table: &SourceConfig, url: &str) -> Result<String, Failure> {
    let Some(base) = &table.public_url else {
        return Ok(url.to_owned());
    };
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}

/// POSTs the event; the status and the answer's body.
fn post(
    url: &str,
    event: &SignedEvent,
    extra: &[(String, String)],
) -> Result<(u16, String), Failure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let mut request = agent.post(url);
    for (name, value) in event.headers().iter() {
        request = request.header(name, value);
    }
    for (name, value) in extra {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut response = request.send(event.body()).map_err(|error| match error {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            Failure::Usage(format!("cannot send to {url}: {error}"))
        }
        other => Failure::Unreachable(format!("cannot reach {url}: {other}")),
    })?;
    let status = response.status().as_u16();
    // An answer that cannot be read whole is still the status the server gave.
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, body))
}

/// `HTTP <status>` and the answer, or one JSON document.
fn print_answer(source: &str, url: &str, status: u16, answer: &str, json: bool) {
    if json {
        let answer = serde_json::from_str::<Value>(answer)
            .unwrap_or_else(|_| Value::String(answer.to_owned()));
        println!(
            "{}",
            json!({"source": source, "url": url, "status": status, "answer": answer})
        );
    } else {
        println!("HTTP {status}");
        if !answer.is_empty() {
            println!("{answer}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> SourceConfig {
        webhooks_core::Config::from_toml(&format!("[webhooks.sources.s]\n{text}"))
            .unwrap()
            .webhooks
            .sources
            .remove("s")
            .unwrap()
    }

    #[test]
    fn the_signed_url_is_the_one_the_server_rebuilds() {
        let local = "http://127.0.0.1:3000/webhooks/sms?x=1";
        let plain = table("validator = \"twilio\"\nsecret = \"t\"");
        assert_eq!(signed_url(&plain, local).unwrap(), local);
        let public =
            table("validator = \"twilio\"\nsecret = \"t\"\npublic-url = \"https://a.example/\"");
        assert_eq!(
            signed_url(&public, local).unwrap(),
            "https://a.example/webhooks/sms?x=1"
        );
    }

    #[test]
    fn headers_are_name_colon_value() {
        let parsed = parse_headers(&["X-A: b: c".into(), "X-B:d".into()]).unwrap();
        assert_eq!(
            parsed,
            [("X-A".into(), "b: c".into()), ("X-B".into(), "d".into())]
        );
        for bad in ["no colon", ": empty name"] {
            assert!(matches!(
                parse_headers(&[bad.into()]),
                Err(Failure::Usage(_))
            ));
        }
    }
}
