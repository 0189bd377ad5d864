//! Source names.

/// Checks that `name` can be a source name: a path segment of letters,
/// digits, `-`, `_` and `.`, not empty. The error says what is wrong.
///
/// ```
/// use webhooks_rules::check_source_name;
///
/// assert_eq!(check_source_name("stripe-live.eu_1"), Ok(()));
/// assert!(check_source_name("stripe/live").is_err());
/// assert!(check_source_name("").is_err());
/// ```
pub fn check_source_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a source name may not be empty");
    }
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err("use only letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_only() {
        for valid in ["stripe", "github-app", "partner_2", "eu.billing", "A-9"] {
            assert_eq!(check_source_name(valid), Ok(()), "{valid}");
        }
        for invalid in ["", "a b", "a/b", "a?b", "é", "a%20b", "a*"] {
            assert!(check_source_name(invalid).is_err(), "{invalid}");
        }
    }
}
