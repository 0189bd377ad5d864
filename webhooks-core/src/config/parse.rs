//! TOML text to a configuration value, with errors that locate the fault
//! and name its key but never quote the file: the line at fault may hold a
//! secret (`secret = whsec_live_…` unquoted is a syntax error), so the toml
//! crate's own `Display`, which prints that line, is never used.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::env::{Applied, EnvOverrides};
use super::error::ConfigError;

/// Deserializes `text`; on failure, the dotted key (when known), the line
/// and column, and toml's message with every value taken out.
pub(crate) fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|error| {
        // `.` is the path of an error outside any key: a syntax error.
        let key = Some(error.path().to_string()).filter(|key| key != ".");
        let error = error.into_inner();
        ConfigError::Parse {
            file: None,
            key,
            position: error.span().map(|span| position(text, span.start)),
            reason: redact(error.message()),
        }
    })
}

/// Deserializes `text` with `overrides` set on it. An error at a key that a
/// variable set, or below a table it made, is the variable's and has no
/// position; one at a key of the file is located as the file alone locates
/// it, when the file alone fails there too.
pub(crate) fn from_toml_with<T: DeserializeOwned>(
    text: &str,
    overrides: &EnvOverrides,
) -> Result<(T, Applied), ConfigError> {
    let mut document: toml::Table = from_toml(text)?;
    let applied = overrides.apply(&mut document)?;
    let value = serde_path_to_error::deserialize(toml::Value::Table(document));
    let error = match value {
        Ok(value) => return Ok((value, applied)),
        Err(error) => error,
    };
    let path: Vec<String> = error
        .path()
        .iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let key = Some(error.path().to_string()).filter(|key| key != ".");
    let unlocated = ConfigError::Parse {
        file: None,
        key: key.clone(),
        position: None,
        reason: redact(error.inner().message()),
    };
    Err(match applied.var_for(&path) {
        Some(var) => ConfigError::FromEnv {
            var: var.to_owned(),
            error: Box::new(unlocated),
        },
        None => match from_toml::<T>(text) {
            Err(located @ ConfigError::Parse { .. }) if parse_key(&located) == key.as_deref() => {
                located
            }
            _ => unlocated,
        },
    })
}

fn parse_key(error: &ConfigError) -> Option<&str> {
    match error {
        ConfigError::Parse { key, .. } => key.as_deref(),
        _ => None,
    }
}

/// The line and column, both from 1, of the byte at `offset`; the column
/// counts characters.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.bytes().filter(|&byte| byte == b'\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// toml's message without any text of the file but key names.
///
/// What can quote the file: serde's messages about a value (`invalid type:
/// string "…", expected u64`, `invalid value: integer `5`, …`, `unknown
/// variant `…`, expected …`), which keep here the kind of value and what was
/// expected (the latter comes from the schema, never from the file). Key
/// names are kept (`unknown field `secert``, `duplicate key `secret``): they
/// are what the message is about. toml's grammar messages are fixed text.
fn redact(message: &str) -> String {
    let lines: Vec<_> = message.lines().map(redact_line).collect();
    lines.join("; ")
}

fn redact_line(line: &str) -> String {
    // The schema's side comes last, so a value holding ", expected " is cut
    // at the right place.
    let expected = line.rfind(", expected ").map_or("", |at| &line[at..]);
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let kind = rest.split(['`', '"', ',']).next().unwrap_or_default();
            return format!("{prefix}{}{expected}", kind.trim_end());
        }
    }
    if line.starts_with("unknown variant ") {
        return format!("unknown value{expected}");
    }
    line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const SECRET: &str = "whsec_live_abc";

    fn error(text: &str) -> ConfigError {
        Config::from_toml(text).unwrap_err()
    }

    #[test]
    fn an_unquoted_secret_is_located_and_not_quoted() {
        let text = format!("[webhooks.sources.s]\nvalidator = \"github\"\nsecret = {SECRET}\n");
        let message = error(&text).to_string();
        assert!(!message.contains(SECRET), "{message}");
        assert!(!message.contains("whsec"), "{message}");
        assert!(message.contains("line 3, column 10"), "{message}");
    }

    #[test]
    fn a_misspelled_key_beside_a_secret_names_the_key_not_the_secret() {
        let text = format!(
            "[webhooks.sources.s]\nvalidator = \"github\"\nsecret = \"{SECRET}\"\nsecert = \"y\"\n"
        );
        let error = error(&text);
        let message = error.to_string();
        assert!(!message.contains(SECRET), "{message}");
        assert!(message.contains("`webhooks.sources.s.secert`"), "{message}");
        assert!(message.contains("line 4, column 1"), "{message}");
        assert!(message.contains("unknown field `secert`"), "{message}");
    }

    #[test]
    fn values_in_serde_messages_are_taken_out() {
        let source = "[webhooks.sources.s]\nvalidator = \"github\"\n";
        let cases = [
            (
                format!("[webhooks]\nmax-body-bytes = \"{SECRET}\""),
                "`webhooks.max-body-bytes`",
                "invalid type: string, expected u64",
            ),
            (
                format!("[webhooks.sources.s]\nvalidator = \"{SECRET}\"\nsecret = \"x\""),
                "`webhooks.sources.s.validator`",
                "unknown value, expected one of `hmac`",
            ),
            (
                format!("{source}secrets = \"{SECRET}\""),
                "`webhooks.sources.s.secrets`",
                "invalid type: string, expected a sequence",
            ),
            (
                format!("{source}secrets = [\"a\", 123456789]"),
                "`webhooks.sources.s.secrets[1]`",
                "invalid type: integer, expected a string",
            ),
            (
                format!("{source}secret = \"{SECRET}\"\nsecret = \"{SECRET}\""),
                "line 4, column 1",
                "duplicate key `secret`",
            ),
            (
                "[webhooks]\nmax-body-bytes = -5".to_owned(),
                "`webhooks.max-body-bytes`",
                "invalid value: integer, expected u64",
            ),
        ];
        for (text, located, reason) in cases {
            let message = error(&text).to_string();
            assert!(message.contains(located), "{text}: {message}");
            assert!(message.contains(reason), "{text}: {message}");
            for quoted in [SECRET, "123456789", "-5"] {
                assert!(!message.contains(quoted), "{text}: {message}");
            }
        }
    }

    #[test]
    fn no_broken_line_is_ever_quoted() {
        // Syntax errors of every kind around a secret.
        let lines = [
            format!("secret = \"{SECRET}"),
            format!("secret = \"{SECRET}\\q\""),
            format!("secret = '{SECRET}' x"),
            format!("secret = [\"{SECRET}\",]]"),
            format!("secret = {SECRET}\"\""),
            format!("secret = \"\\uD800{SECRET}\""),
            format!("secret \"{SECRET}\""),
            format!("secret = 12{SECRET}"),
            format!("secret = true{SECRET}"),
            format!("secret = 1979-05-27T07:32:00Z{SECRET}"),
            SECRET.to_owned(),
            format!("[{SECRET}"),
        ];
        for line in lines {
            let text = format!("[webhooks.sources.s]\nvalidator = \"github\"\n{line}\n");
            let message = error(&text).to_string();
            assert!(!message.contains("whsec"), "{line}: {message}");
            assert!(message.contains("line 3, column "), "{line}: {message}");
        }
    }

    #[test]
    fn positions_count_lines_and_characters_from_1() {
        assert_eq!(position("", 0), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("é = x", 4), (1, 4));
        assert_eq!(position("é", 1), (1, 1));
        assert_eq!(position("a\n", 99), (2, 1));
    }
}
