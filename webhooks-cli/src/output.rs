//! How a run ends: its failures, their exit codes, text or JSON.

use std::process::ExitCode;

/// Why a command could not do its work; each cause has its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A bad argument or configuration: exit 2.
    Usage(String),
    /// The server could not be reached: exit 3.
    Unreachable(String),
    /// The admin API answered with an error (no such event, 409, 503 …):
    /// exit 1.
    Refused(String),
    /// The admin API refused the token: exit 4.
    Unauthorized(String),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Refused(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
            Self::Unauthorized(_) => 4,
        })
    }

    fn message(&self) -> &str {
        match self {
            Self::Usage(message)
            | Self::Unreachable(message)
            | Self::Refused(message)
            | Self::Unauthorized(message) => message,
        }
    }
}

/// Text on standard error, or `{"error": ...}` on standard output.
pub(crate) fn print_failure(failure: &Failure, json: bool) {
    if json {
        println!("{}", serde_json::json!({ "error": failure.message() }));
    } else {
        eprintln!("error: {}", failure.message());
    }
}

/// Rows under a header, each column as wide as its widest cell; an empty
/// table says so.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>], empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// At most `max` characters of `text`, on one line, `…` when cut.
pub(crate) fn short(text: &str, max: usize) -> String {
    let flat = text.replace(['\r', '\n'], " ");
    match flat.char_indices().nth(max) {
        None => flat,
        Some((at, _)) => format!("{}…", &flat[..at]),
    }
}
