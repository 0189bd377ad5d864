//! `webhooks dead list|requeue`: the dead letters, over the admin API.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::admin::{Admin, Verb, post_each};
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
    let verb = Verb {
        done: "requeued",
        doing: "requeued",
    };
    let path = |source: &str, id: &str| format!("/admin/dead/{source}/{id}/requeue");
    post_each(admin, &targets, path, &verb, one.is_none(), json)
}
