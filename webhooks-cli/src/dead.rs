//! `webhooks dead list|requeue`: the dead letters, over the admin API.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::admin::{Admin, segment};
use crate::events::progress;
use crate::output::{Failure, print_table, short};

fn letters(admin: &Admin, source: Option<&str>) -> Result<Vec<Value>, Failure> {
    let body = admin
        .get("/admin/dead", &[("source", source.map(str::to_owned))])?
        .ok()?;
    Ok(body["dead"].as_array().cloned().unwrap_or_default())
}

/// `dead list`.
pub(crate) fn list(admin: &Admin, source: Option<&str>, json: bool) -> Result<ExitCode, Failure> {
    let dead = letters(admin, source)?;
    if json {
        println!("{}", json!({ "dead": dead }));
        return Ok(ExitCode::SUCCESS);
    }
    let text = |letter: &Value, key: &str| match &letter[key] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = dead
        .iter()
        .map(|letter| {
            vec![
                text(letter, "failed_at")
                    .get(..19)
                    .unwrap_or_default()
                    .replace('T', " "),
                text(letter, "source"),
                text(letter, "id"),
                text(letter, "type"),
                text(letter, "attempts"),
                short(&text(letter, "reason"), 70),
            ]
        })
        .collect();
    print_table(
        &["FAILED", "SOURCE", "ID", "TYPE", "ATTEMPTS", "REASON"],
        &rows,
        "no dead letters",
    );
    Ok(ExitCode::SUCCESS)
}

/// `dead requeue <source> <id>`, or `--all` of a source (or of all).
pub(crate) fn requeue(
    admin: &Admin,
    one: Option<(&str, &str)>,
    source: Option<&str>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let targets: Vec<(String, String)> = match one {
        Some((source, id)) => vec![(source.to_owned(), id.to_owned())],
        None => letters(admin, source)?
            .iter()
            .map(|letter| {
                let field = |key: &str| letter[key].as_str().unwrap_or_default().to_owned();
                (field("source"), field("id"))
            })
            .collect(),
    };
    let bar = one.is_none().then(|| progress(targets.len()));
    let (mut requeued, mut failed) = (Vec::new(), Vec::new());
    for (source, id) in &targets {
        let path = format!("/admin/dead/{}/{}/requeue", segment(source), segment(id));
        let answer = admin.post(&path)?;
        match answer.status {
            200..=299 => requeued.push(json!({"source": source, "id": id})),
            401 => return Err(answer.failure()),
            status => {
                let error = answer.body["error"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned();
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
    if json {
        println!("{}", json!({"requeued": requeued, "failed": failed}));
    } else {
        for done in &requeued {
            println!(
                "requeued {} {}",
                done["source"].as_str().unwrap_or(""),
                done["id"].as_str().unwrap_or("")
            );
        }
        for refused in &failed {
            eprintln!(
                "not requeued: {} {}: {}",
                refused["source"].as_str().unwrap_or(""),
                refused["id"].as_str().unwrap_or(""),
                refused["error"].as_str().unwrap_or("")
            );
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
