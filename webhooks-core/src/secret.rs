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

    /// Whether `given` is this secret, compared in constant time: the work
    /// depends on the secret's length only, and neither the bytes nor the
    /// length of `given` decide when the comparison ends. For a secret sent
    /// as is, such as a bearer token.
    ///
    /// ```
    /// use webhooks_core::Secret;
    ///
    /// let token = Secret::from("0123456789abcdef");
    /// assert!(token.matches(b"0123456789abcdef"));
    /// assert!(!token.matches(b"0123456789abcdeX"));
    /// assert!(!token.matches(b"0123456789abcdef0"));
    /// assert!(!token.matches(b""));
    /// ```
    pub fn matches(&self, given: &[u8]) -> bool {
        use subtle::ConstantTimeEq;

        let expected = self.expose();
        let mut same = (given.len() as u64).ct_eq(&(expected.len() as u64));
        for (at, byte) in expected.iter().enumerate() {
            same &= given.get(at).copied().unwrap_or(0).ct_eq(byte);
        }
        same.into()
    }

    /// Whether `other` is this very secret (a clone of it), not one that
    /// merely has the same bytes: how MACs computed ahead are matched with
    /// the secret that keyed them, without reading either key.
    pub(crate) fn is(&self, other: &Secret) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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

    /// Whether no secret is set (no validator accepts that).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These secrets, when there is at least one and none is empty: what
    /// every validator's constructor requires. An empty HMAC key is a key
    /// anyone has, so a validator built with one would accept forgeries.
    pub(crate) fn non_empty(self) -> Result<Self, InvalidSecret> {
        if self.is_empty() {
            return Err(InvalidSecret::NoSecrets);
        }
        let empty = self.iter().position(|secret| secret.expose().is_empty());
        match empty {
            Some(index) => Err(InvalidSecret::Empty { number: index + 1 }),
            None => Ok(self),
        }
    }
}

/// A configured secret or key that cannot be used: none at all, an empty
/// one, or one that is not what the scheme expects. The message names
/// which secret (counting from 1) and why, never the secret itself.
///
/// ```
/// use webhooks_core::{InvalidSecret, StandardSignatureValidator, StripeSignatureValidator};
///
/// assert_eq!(StripeSignatureValidator::new("").unwrap_err(), InvalidSecret::Empty { number: 1 });
/// let error = StandardSignatureValidator::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_%%%"]).unwrap_err();
/// assert_eq!(error.number(), Some(2));
/// assert!(!error.to_string().contains("%%%"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSecret {
    /// No secret was given at all.
    #[error("no secret given")]
    NoSecrets,
    /// A secret is empty (or, for a scheme that decodes it, decodes to
    /// nothing).
    #[error("secret number {number} is empty")]
    Empty {
        /// Which secret, counting from 1 in the order they were given.
        number: usize,
    },
    /// A secret is not the encoding the scheme expects, or not a valid
    /// public key.
    #[error("secret number {number}: {reason}")]
    Unusable {
        /// Which secret, counting from 1 in the order they were given.
        number: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl InvalidSecret {
    /// The `index`-th secret (from 0) cannot be used, for this reason.
    pub(crate) fn unusable(index: usize, reason: &'static str) -> Self {
        Self::Unusable {
            number: index + 1,
            reason,
        }
    }

    /// Which secret, counting from 1 in the order they were given; `None`
    /// when none was given.
    pub fn number(&self) -> Option<usize> {
        match self {
            Self::NoSecrets => None,
            Self::Empty { number } | Self::Unusable { number, .. } => Some(*number),
        }
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
    #[test]
    fn tokens_compare_by_content_and_length() {
        let expected = Secret::from("0123456789abcdef");
        assert!(expected.matches(b"0123456789abcdef"));
        assert!(!expected.matches(b"0123456789abcdef\0"));
        assert!(!expected.matches(b"0123456789abcde"));
        assert!(!expected.matches(b""));
        assert!(!expected.matches(b"1123456789abcdef"));
    }

    use super::*;

    #[test]
    fn no_secret_or_an_empty_one_is_refused() {
        let none = Secrets::from_iter::<[&str; 0]>([]);
        assert_eq!(none.non_empty(), Err(InvalidSecret::NoSecrets));
        let second = Secrets::from(["new", ""]).non_empty();
        assert_eq!(second, Err(InvalidSecret::Empty { number: 2 }));
        assert_eq!(second.unwrap_err().to_string(), "secret number 2 is empty");
        assert!(Secrets::from(["new", "old"]).non_empty().is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secrets = Secrets::from(["whsec_abc", "hunter2"]);
        let printed = format!("{secrets:?} {:?}", Secret::from("hunter2"));
        assert!(!printed.contains("abc"));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("[redacted]"));
    }
}
