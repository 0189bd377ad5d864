//! A configuration that cannot be used, and the range checks that say so.

use std::path::{Path, PathBuf};

/// A configuration that cannot be used; every message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not TOML, an unknown key, or a value of the wrong type. Located by
    /// line and column, and never quoting the file: the line at fault may
    /// hold a secret.
    #[error("invalid configuration{}", located(.file.as_deref(), .key.as_deref(), *.position, .reason))]
    Parse {
        /// The file, when the text was read from one.
        file: Option<PathBuf>,
        /// The dotted key at fault, when the text parsed as TOML.
        key: Option<String>,
        /// The line and column at fault, both from 1.
        position: Option<(usize, usize)>,
        /// What is wrong, without any value of the file.
        reason: String,
    },
    /// A value out of range or not allowed here.
    #[error("invalid configuration: `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// `secret-env`, `secrets-env` or `url-env` names a variable that is
    /// not set.
    #[error("invalid configuration: `{key}`: environment variable {var} is not set or empty")]
    MissingEnv {
        /// The dotted key.
        key: String,
        /// The variable.
        var: String,
    },
    /// `secret-file` names a file that cannot be read, or is empty. The
    /// reason never quotes the file.
    #[error("invalid configuration: `{key}`: secret file {}: {reason}", path.display())]
    SecretFile {
        /// The dotted key.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A `WEBHOOKS__…` variable that names no key it can set.
    #[error("invalid configuration: environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong, without its value.
        reason: String,
    },
    /// An error about a key whose value an environment variable gave.
    #[error("{error} (from environment variable {var})")]
    FromEnv {
        /// The `WEBHOOKS__…` variable.
        var: String,
        /// The error about its key.
        error: Box<ConfigError>,
    },
    /// An error about a key of a configuration file, when it has no line
    /// and column (a value out of range, a missing key).
    #[error("{error} (in {})", file.display())]
    InFile {
        /// The file.
        file: PathBuf,
        /// The error about its key.
        error: Box<ConfigError>,
    },
}

impl ConfigError {
    /// An invalid value at `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Where a parse error is, as `: <file>: line 3, column 10: `<key>`: <reason>`.
fn located(
    file: Option<&Path>,
    key: Option<&str>,
    position: Option<(usize, usize)>,
    reason: &str,
) -> String {
    let mut text = String::new();
    if let Some(file) = file {
        text.push_str(&format!(": {}", file.display()));
    }
    if let Some((line, column)) = position {
        text.push_str(&format!(": line {line}, column {column}"));
    }
    if let Some(key) = key {
        text.push_str(&format!(": `{key}`"));
    }
    text.push_str(&format!(": {reason}"));
    text
}

/// Ten years, in seconds: the longest duration a key may give. Longer is a
/// typo, and would overflow what it is handed to: Redis takes expiries in
/// milliseconds (`PX`) and refuses one whose deadline does not fit in an
/// `i64`, and an `Instant` it is added to can overflow, which panics.
pub(super) const MAX_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;

/// `value` must not be 0.
pub(super) fn positive(value: u64, key: &str) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(key, "must be greater than 0"));
    }
    Ok(())
}

/// A duration in `unit`s (`unit_seconds` each): positive and at most
/// [`MAX_SECONDS`].
pub(super) fn duration(value: u64, unit_seconds: u64, key: &str) -> Result<(), ConfigError> {
    positive(value, key)?;
    let max = MAX_SECONDS / unit_seconds;
    if value > max {
        return Err(ConfigError::invalid(
            key,
            format!("must be at most {max} (ten years)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_positive_and_at_most_ten_years() {
        assert_eq!(
            duration(0, 1, "a.b"),
            Err(ConfigError::invalid("a.b", "must be greater than 0"))
        );
        assert!(duration(MAX_SECONDS, 1, "a.b").is_ok());
        let error = duration(MAX_SECONDS + 1, 1, "a.b").unwrap_err().to_string();
        assert!(
            error.contains("`a.b`") && error.contains("315360000"),
            "{error}"
        );
        assert!(duration(87_600, 3600, "a.hours").is_ok());
        assert!(duration(87_601, 3600, "a.hours").is_err());
        // The longest is still far from overflowing Redis's milliseconds.
        assert!(
            MAX_SECONDS
                .checked_mul(1000)
                .is_some_and(|ms| ms < i64::MAX as u64 / 2)
        );
    }
}
