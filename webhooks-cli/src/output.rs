//! How a run ends: its failures, their exit codes, text or JSON.

use std::process::ExitCode;

/// Why a command could not do its work; each cause has its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A bad argument or configuration: exit 2.
    Usage(String),
    /// The server could not be reached: exit 3.
    Unreachable(String),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
        })
    }

    fn message(&self) -> &str {
        match self {
            Self::Usage(message) | Self::Unreachable(message) => message,
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
