//! Secrets that never print.

use std::fmt;
use std::sync::Arc;

/// A signing secret or key.
///
/// Its `Debug` output is `Secret([redacted])`, so a secret cannot leak
/// through a log line, an error or a `{:?}` by accident. Cloning is cheap.
///
/// ```
/// use webhooks_core::Secret;
///
/// let secret = Secret::from("whsec_test");
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// assert_eq!(secret.expose(), b"whsec_test");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps the given bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Arc::from(bytes.into()))
    }

    /// The secret's bytes, for computing a signature.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

/// One or more secrets that are all accepted, newest first, so a secret can be
/// rotated without refusing deliveries signed with the old one.
///
/// ```
/// use webhooks_core::Secrets;
///
/// let secrets = Secrets::from(["new", "old"]);
/// assert_eq!(secrets.iter().count(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets(Arc<[Secret]>);

impl Secrets {
    /// The secrets, in the order they are tried.
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.0.iter()
    }

    /// Whether no secret is set (such a validator accepts nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<Secret>> From<S> for Secrets {
    fn from(value: S) -> Self {
        Self(Arc::from(vec![value.into()]))
    }
}

impl<S: Into<Secret>, const N: usize> From<[S; N]> for Secrets {
    fn from(value: [S; N]) -> Self {
        value.into_iter().collect()
    }
}

impl<S: Into<Secret>> FromIterator<S> for Secrets {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secrets = Secrets::from(["whsec_abc", "hunter2"]);
        let printed = format!("{secrets:?} {:?}", Secret::from("hunter2"));
        assert!(!printed.contains("abc"));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("[redacted]"));
    }
}
