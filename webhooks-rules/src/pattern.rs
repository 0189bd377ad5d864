//! Event patterns: which event types a listener receives.

/// A listener's event pattern, parsed once: `*` for every event, an exact
/// type (`payment_intent.succeeded`), or a prefix ending in a last `.*`
/// segment (`customer.subscription.*`).
///
/// ```
/// use webhooks_rules::EventPattern;
///
/// let pattern = EventPattern::parse("customer.subscription.*").unwrap();
/// assert!(pattern.matches("customer.subscription.updated", false));
/// assert!(EventPattern::parse("customer.*.updated").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    /// `*`: every event.
    Any,
    /// One event type; with families, also that family's events.
    Exact(Box<str>),
    /// `customer.subscription.*`, kept as `customer.subscription.`.
    Prefix(Box<str>),
}

impl EventPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, &'static str> {
        const STAR: &str = "`*` is allowed alone or as a last `.*` segment, like `customer.*`";
        if pattern == "*" {
            return Ok(Self::Any);
        }
        if pattern.is_empty() {
            return Err("an event pattern may not be empty; use `*` for every event");
        }
        match pattern.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('.') && !prefix.contains('*') && prefix.len() > 1 => {
                Ok(Self::Prefix(prefix.into()))
            }
            Some(_) => Err(STAR),
            None if pattern.contains('*') => Err(STAR),
            None => Ok(Self::Exact(pattern.into())),
        }
    }

    /// Whether `event_type` matches; with `families` (sources whose types
    /// are `family.action`, like GitHub's), `issues` also matches
    /// `issues.opened`.
    pub fn matches(&self, event_type: &str, families: bool) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => {
                event_type == &**exact
                    || (families
                        && event_type
                            .strip_prefix(&**exact)
                            .is_some_and(|rest| rest.starts_with('.')))
            }
            Self::Prefix(prefix) => event_type.starts_with(&**prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let issues = EventPattern::parse("issues").unwrap();
        assert!(issues.matches("issues", true));
        assert!(issues.matches("issues.opened", true));
        assert!(!issues.matches("issues.opened", false));
        assert!(!issues.matches("issues_comment.created", true));
        let opened = EventPattern::parse("issues.opened").unwrap();
        assert!(opened.matches("issues.opened", true));
        assert!(!opened.matches("issues.closed", true));
        let prefix = EventPattern::parse("customer.subscription.*").unwrap();
        assert!(prefix.matches("customer.subscription.updated", false));
        assert!(!prefix.matches("customer.created", false));
        assert!(EventPattern::parse("*").unwrap().matches("", false));
    }

    #[test]
    fn wildcards_only_alone_or_last() {
        for valid in [
            "*",
            "issues",
            "issues.opened",
            "customer.subscription.*",
            "a.*",
        ] {
            assert!(EventPattern::parse(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "a*", "*.a", ".*", "a.*.*", "a.*.b", "**"] {
            assert!(EventPattern::parse(invalid).is_err(), "{invalid}");
        }
    }
}
