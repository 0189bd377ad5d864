//! `webhooks events list|show|replay`: the event log, over the admin API.

use std::process::ExitCode;

use serde_json::{Value, json};
use webhooks_core::event_log::{EventPage, EventRecord};

use crate::admin::{Admin, Verb, post_each, segment, time};
use crate::output::{Failure, print_table, short};

/// The filters of `events list` and of a bulk `events replay`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Filters {
    /// Only this source's events.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Only events in this status: processing, succeeded, retrying, failed, dead.
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Only events of this exact type.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) event_type: Option<String>,
    /// Only events received since then: RFC 3339, or a duration ago (`2h`).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Only events received before then: RFC 3339, or a duration ago.
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
}

impl Filters {
    fn query(&self) -> Result<Vec<(&'static str, Option<String>)>, Failure> {
        Ok(vec![
            ("source", self.source.clone()),
            ("status", self.status.clone()),
            ("type", self.event_type.clone()),
            ("since", self.since.as_deref().map(time).transpose()?),
            ("until", self.until.as_deref().map(time).transpose()?),
        ])
    }
}

/// One page (or, with `all`, every page) of matching records, newest first.
pub(crate) fn fetch(
    admin: &Admin,
    filters: &Filters,
    limit: usize,
    all: bool,
) -> Result<EventPage, Failure> {
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let mut query = filters.query()?;
        query.push(("limit", Some(limit.to_string())));
        query.push(("cursor", cursor.take()));
        let body = admin.get("/admin/events", &query)?.ok()?;
        let page: EventPage = serde_json::from_value(body).map_err(|error| {
            Failure::Refused(format!(
                "the admin API answered an unexpected listing: {error}"
            ))
        })?;
        events.extend(page.events);
        match page.next {
            Some(next) if all => cursor = Some(next),
            next => return Ok(EventPage::new(events, next)),
        }
    }
}

/// `events list`.
pub(crate) fn list(
    admin: &Admin,
    filters: &Filters,
    limit: usize,
    all: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let page = fetch(admin, filters, limit, all)?;
    if json {
        println!("{}", serde_json::to_string(&page).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = page.events.iter().map(row).collect();
    print_table(
        &[
            "RECEIVED",
            "SOURCE",
            "ID",
            "TYPE",
            "STATUS",
            "ATTEMPTS",
            "LISTENERS",
            "ERROR",
        ],
        &rows,
        "no events",
    );
    if let Some(next) = &page.next {
        println!("more: --all, or the admin API's cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

fn row(record: &EventRecord) -> Vec<String> {
    let listeners: Vec<String> = record
        .listeners
        .iter()
        .map(|run| format!("{} {}", run.listener, if run.ok { "ok" } else { "failed" }))
        .collect();
    vec![
        seconds(&webhooks_core::event_log::format_time(record.received_at)),
        record.source.clone(),
        record.id.clone(),
        record.event_type.clone(),
        record.status.to_string(),
        record.attempts.to_string(),
        listeners.join(", "),
        short(record.error.as_deref().unwrap_or(""), 60),
    ]
}

/// `2026-11-30T12:00:00.123Z` → `2026-11-30 12:00:00`.
fn seconds(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

/// `events show <source> <id>`.
pub(crate) fn show(admin: &Admin, source: &str, id: &str, json: bool) -> Result<ExitCode, Failure> {
    let path = format!("/admin/events/{}/{}", segment(source), segment(id));
    let body = admin.get(&path, &[])?.ok()?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let record: EventRecord = serde_json::from_value(body).map_err(|error| {
        Failure::Refused(format!(
            "the admin API answered an unexpected record: {error}"
        ))
    })?;
    print!("{}", describe(&record));
    Ok(ExitCode::SUCCESS)
}

fn describe(record: &EventRecord) -> String {
    use std::fmt::Write as _;

    let time = |at| seconds(&webhooks_core::event_log::format_time(at));
    let mut out = String::new();
    let _ = writeln!(out, "source        {}", record.source);
    let _ = writeln!(out, "id            {}", record.id);
    let _ = writeln!(out, "type          {}", record.event_type);
    let _ = writeln!(out, "status        {}", record.status);
    let _ = writeln!(out, "attempts      {}", record.attempts);
    let _ = writeln!(out, "redeliveries  {}", record.redeliveries);
    let _ = writeln!(out, "replays       {}", record.replays);
    let _ = writeln!(out, "received      {}", time(record.received_at));
    let finished = record.finished_at.map_or_else(|| "-".to_owned(), time);
    let _ = writeln!(out, "finished      {finished}");
    if let Some(error) = &record.error {
        let _ = writeln!(out, "error         {error}");
    }
    for run in &record.listeners {
        let outcome = match &run.error {
            None => "ok".to_owned(),
            Some(error) => format!("failed: {error}"),
        };
        let _ = writeln!(
            out,
            "listener      {} ({} ms) {outcome}",
            run.listener, run.duration_ms
        );
    }
    match (&record.headers, &record.body) {
        (Some(headers), Some(body)) => {
            let _ = writeln!(out, "headers");
            for line in headers.lines() {
                let _ = writeln!(out, "  {line}");
            }
            let pretty = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            let _ = writeln!(out, "body\n{pretty}");
        }
        _ => {
            let _ = writeln!(
                out,
                "body          not kept (keep-bodies = false, or dropped for memory)"
            );
        }
    }
    out
}

/// `events replay <source> <id>`, or every match of the filters.
pub(crate) fn replay(
    admin: &Admin,
    one: Option<(&str, &str)>,
    filters: &Filters,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let targets: Vec<(String, String, String)> = match one {
        Some((source, id)) => vec![(source.to_owned(), id.to_owned(), String::new())],
        None => {
            if filters.source.is_none() {
                return Err(Failure::Usage(
                    "a bulk replay needs --source (and takes --status, --since, --until)".into(),
                ));
            }
            let statuses: Vec<String> = match &filters.status {
                Some(status) => vec![status.clone()],
                None => vec!["dead".into(), "failed".into()],
            };
            let mut targets = Vec::new();
            for status in statuses {
                let filters = Filters {
                    status: Some(status),
                    ..filters.clone()
                };
                let page = fetch(admin, &filters, 1000, true)?;
                targets.extend(
                    page.events
                        .into_iter()
                        .map(|r| (r.source, r.id, r.status.to_string())),
                );
            }
            targets
        }
    };
    if dry_run {
        if json {
            let listed: Vec<Value> = targets
                .iter()
                .map(|(source, id, status)| json!({"source": source, "id": id, "status": status}))
                .collect();
            println!("{}", json!({"dry_run": true, "would_replay": listed}));
        } else {
            let rows: Vec<Vec<String>> = targets
                .iter()
                .map(|(source, id, status)| vec![source.clone(), id.clone(), status.clone()])
                .collect();
            print_table(&["SOURCE", "ID", "STATUS"], &rows, "nothing to replay");
            println!("dry run: {} event(s) would be replayed", targets.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let targets: Vec<(String, String)> = targets
        .into_iter()
        .map(|(source, id, _)| (source, id))
        .collect();
    let verb = Verb {
        done: "replayed",
        doing: "replaying",
    };
    let path = |source: &str, id: &str| format!("/admin/events/{source}/{id}/replay");
    post_each(admin, &targets, path, &verb, one.is_none(), json)
}
