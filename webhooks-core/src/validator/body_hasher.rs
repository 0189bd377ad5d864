//! Hashing a body while it arrives: the HMAC-SHA256 states of a scheme
//! that signs a prefix known from the headers, then the body.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;

/// HMAC-SHA256 states, one per secret, already fed what a scheme signs
/// before the body; a transport feeds them the body frame by frame as it
/// arrives, while each frame is still in the cache, and keeps the bytes.
/// [`BodyHasher::finish`] gives the [`BodyMacs`] that the validator's
/// `verify` then uses instead of reading the whole body again.
///
/// A validator offers one through [`SignatureValidator::body_hasher`]
/// (see there) when the headers leave nothing to refuse before hashing.
///
/// [`SignatureValidator::body_hasher`]: crate::SignatureValidator::body_hasher
///
/// ```
/// use webhooks_core::{BodyHasher, HmacSignatureValidator, Secret};
///
/// let secret = Secret::from("k");
/// let mut hasher = BodyHasher::new([&secret], &[b"1700000000."]);
/// hasher.update(b"{\"a\":");
/// hasher.update(b"1}");
/// let macs = hasher.finish();
/// let mac = macs.mac(&secret, &[b"1700000000."], b"{\"a\":1}").unwrap();
/// assert_eq!(hex::encode(mac), HmacSignatureValidator::sign(b"k", b"1700000000.{\"a\":1}"));
/// ```
pub struct BodyHasher {
    states: Vec<(Secret, Hmac<Sha256>)>,
    prefix: Vec<u8>,
    length: usize,
}

impl BodyHasher {
    /// States keyed by each of `secrets`, each fed the `prefix` pieces.
    pub fn new<'s>(secrets: impl IntoIterator<Item = &'s Secret>, prefix: &[&[u8]]) -> Self {
        let prefix = prefix.concat();
        let states = secrets
            .into_iter()
            .map(|secret| {
                let mut state = Hmac::<Sha256>::new_from_slice(secret.expose())
                    .expect("HMAC accepts keys of any length");
                state.update(&prefix);
                (secret.clone(), state)
            })
            .collect();
        Self {
            states,
            prefix,
            length: 0,
        }
    }

    /// Feeds the next piece of the body to every state.
    pub fn update(&mut self, frame: &[u8]) {
        for (_, state) in &mut self.states {
            state.update(frame);
        }
        self.length += frame.len();
    }

    /// The MACs of the prefix and all the body fed.
    pub fn finish(self) -> BodyMacs {
        BodyMacs {
            macs: self
                .states
                .into_iter()
                .map(|(secret, state)| (secret, state.finalize().into_bytes().into()))
                .collect(),
            prefix: self.prefix,
            length: self.length,
        }
    }
}

impl fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyHasher")
            .field("secrets", &self.states.len())
            .field("prefix_bytes", &self.prefix.len())
            .field("body_bytes", &self.length)
            .finish()
    }
}

/// The MACs a [`BodyHasher`] computed while the body arrived, given to the
/// validator with [`SignedRequest::with_body_macs`](crate::SignedRequest::with_body_macs).
///
/// ```
/// use webhooks_core::{BodyHasher, Secret};
///
/// let (secret, other) = (Secret::from("k"), Secret::from("k"));
/// let mut hasher = BodyHasher::new([&secret], &[]);
/// hasher.update(b"{}");
/// let macs = hasher.finish();
/// assert!(macs.mac(&secret, &[], b"{}").is_some());
/// // Another prefix, body length or secret: not what was computed.
/// assert!(macs.mac(&secret, &[b"1."], b"{}").is_none());
/// assert!(macs.mac(&secret, &[], b"{}!").is_none());
/// assert!(macs.mac(&other, &[], b"{}").is_none());
/// ```
#[derive(Clone)]
pub struct BodyMacs {
    macs: Vec<(Secret, [u8; 32])>,
    prefix: Vec<u8>,
    length: usize,
}

impl BodyMacs {
    /// The HMAC-SHA256 of the `prefix` pieces then `body` under `secret`,
    /// when that is what was computed: the very secret given to
    /// [`BodyHasher::new`] (a clone of it, not another with the same bytes),
    /// the same prefix, and a body of the length fed. `None` otherwise, and
    /// the caller hashes the body itself.
    pub fn mac(&self, secret: &Secret, prefix: &[&[u8]], body: &[u8]) -> Option<[u8; 32]> {
        if self.length != body.len() || !same_prefix(&self.prefix, prefix) {
            return None;
        }
        self.macs
            .iter()
            .find_map(|(keyed_by, mac)| keyed_by.is(secret).then_some(*mac))
    }
}

impl fmt::Debug for BodyMacs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyMacs")
            .field("secrets", &self.macs.len())
            .field("prefix_bytes", &self.prefix.len())
            .field("body_bytes", &self.length)
            .finish()
    }
}

/// Whether the `pieces`, concatenated, are `whole`.
fn same_prefix(whole: &[u8], pieces: &[&[u8]]) -> bool {
    let mut rest = whole;
    for piece in pieces {
        match rest.strip_prefix(*piece) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

/// The HMAC-SHA256 of the `prefix` pieces then the request's body under
/// `secret`: the one computed while the body arrived when the request
/// carries it, else computed now.
pub(crate) fn body_mac(
    secret: &Secret,
    prefix: &[&[u8]],
    request: &super::SignedRequest<'_>,
) -> [u8; 32] {
    let body = request.body();
    request
        .body_macs()
        .and_then(|macs| macs.mac(secret, prefix, body))
        .unwrap_or_else(|| {
            let mut state = Hmac::<Sha256>::new_from_slice(secret.expose())
                .expect("HMAC accepts keys of any length");
            for piece in prefix {
                state.update(piece);
            }
            state.update(body);
            state.finalize().into_bytes().into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::hmac::hmac_sha256;

    #[test]
    fn frames_split_anywhere_give_the_one_shot_mac() {
        let (new, old) = (Secret::from("new"), Secret::from("old"));
        let body: Vec<u8> = (0..=255_u8).cycle().take(300).collect();
        let prefix: [&[u8]; 2] = [b"1700000000", b"."];
        for split in 0..=body.len() {
            let mut hasher = BodyHasher::new([&new, &old], &prefix);
            hasher.update(&body[..split]);
            hasher.update(&body[split..]);
            let macs = hasher.finish();
            for secret in [&new, &old] {
                assert_eq!(
                    macs.mac(secret, &prefix, &body),
                    Some(hmac_sha256(secret.expose(), &[b"1700000000.", &body])),
                );
            }
        }
    }

    #[test]
    fn only_what_was_computed_is_given() {
        let secret = Secret::from("k");
        let mut hasher = BodyHasher::new([&secret], &[b"id.", b"1."]);
        hasher.update(b"body");
        let macs = hasher.finish();
        assert!(macs.mac(&secret, &[b"id.1."], b"body").is_some());
        assert!(
            macs.mac(&secret.clone(), &[b"id.", b"1", b"."], b"body")
                .is_some()
        );
        assert!(macs.mac(&secret, &[b"id.", b"2."], b"body").is_none());
        assert!(macs.mac(&secret, &[b"id."], b"body").is_none());
        assert!(macs.mac(&secret, &[b"id.", b"1.", b"x"], b"body").is_none());
        assert!(macs.mac(&secret, &[b"id.1."], b"bod").is_none());
        assert!(macs.mac(&Secret::from("k"), &[b"id.1."], b"body").is_none());
        let printed = format!("{macs:?}");
        assert!(!printed.contains('k'), "{printed}");
    }

    #[test]
    fn debug_shows_sizes_and_no_key() {
        let secret = Secret::from("key-bytes");
        let mut hasher = BodyHasher::new([&secret], &[b"1."]);
        hasher.update(b"body");
        let sizes = "{ secrets: 1, prefix_bytes: 2, body_bytes: 4 }";
        assert_eq!(format!("{hasher:?}"), format!("BodyHasher {sizes}"));
        assert_eq!(
            format!("{:?}", hasher.finish()),
            format!("BodyMacs {sizes}")
        );
    }
}
