//! What the fuzz targets share: the input format and the validators, each
//! keyed and clocked like a published test vector, so that the seeds (the
//! vectors themselves, see `seeds.py`) verify and the fuzzer starts from
//! requests that get past the signature.

use std::sync::{Arc, OnceLock};

use webhooks_core::{
    Clock, DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator, Headers,
    HmacSignatureValidator, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, ShopifySignatureValidator, SignatureValidator, SignedRequest,
    SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
    StripeSignatureValidator, TwilioSignatureValidator,
};

/// A request taken from fuzz input: `<selector byte>`, then header lines
/// `Name: value\n` up to an empty line, then the raw body. A line named
/// `:url` gives the request URL (for Twilio and Square); a line that is no
/// valid header is skipped, as a transport would never pass it on.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// Picks the validator or source.
    pub selector: u8,
    /// The headers.
    pub headers: Headers,
    /// The URL, for schemes that sign it.
    pub url: Option<String>,
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> Delivery<'a> {
    /// Splits fuzz input; `None` when it is empty.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&selector, mut rest) = data.split_first()?;
        let mut headers = Headers::new();
        let mut url = None;
        loop {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let (line, after) = (&rest[..end], &rest[end + 1..]);
            rest = after;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.windows(2).position(|w| w == b": ") else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 2..]);
            match std::str::from_utf8(name) {
                Ok(":url") => url = Some(String::from_utf8_lossy(value).into_owned()),
                Ok(name) => {
                    let _ = headers.append_bytes(name, value);
                }
                Err(_) => {}
            }
        }
        Some(Self {
            selector,
            headers,
            url,
            body: rest,
        })
    }

    /// The request a validator sees.
    pub fn request(&self) -> SignedRequest<'_> {
        let request = SignedRequest::new(&self.headers, self.body);
        match &self.url {
            Some(url) => request.with_url(url),
            None => request,
        }
    }
}

/// Every scheme, keyed with the secret of its published (or independently
/// computed) vector in `webhooks-core/src/validator/*.rs` and clocked at
/// that vector's time.
pub fn validators() -> &'static [(&'static str, Arc<dyn SignatureValidator>)] {
    static ALL: OnceLock<Vec<(&'static str, Arc<dyn SignatureValidator>)>> = OnceLock::new();
    ALL.get_or_init(build)
}

fn build() -> Vec<(&'static str, Arc<dyn SignatureValidator>)> {
    vec![
        (
            "stripe",
            Arc::new(
                StripeSignatureValidator::new("whsec_test_secret")
                    .expect("a usable secret")
                    .clock(Clock::fixed(1_700_000_000)),
            ),
        ),
        (
            "github",
            Arc::new(
                GitHubSignatureValidator::new("It's a Secret to Everybody")
                    .expect("a usable secret"),
            ),
        ),
        (
            "standard",
            Arc::new(
                StandardSignatureValidator::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                    .expect("a usable secret")
                    .clock(Clock::fixed(1_614_265_330)),
            ),
        ),
        (
            "standard-ed25519",
            Arc::new(
                StandardSignatureValidator::new(
                    "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=",
                )
                .expect("a usable secret")
                .clock(Clock::fixed(1_614_265_330)),
            ),
        ),
        (
            "slack",
            Arc::new(
                SlackSignatureValidator::new("8f742231b10e8888abcd99yyyzzz85a5")
                    .expect("a usable secret")
                    .clock(Clock::fixed(1_531_420_618)),
            ),
        ),
        (
            "paddle",
            Arc::new(
                PaddleSignatureValidator::new(
                    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
                )
                .expect("a usable secret")
                .clock(Clock::fixed(1_696_195_954)),
            ),
        ),
        (
            "square",
            Arc::new(
                SquareSignatureValidator::new("Ibxx_5AKakO-3qeNVR61Dw").expect("a usable secret"),
            ),
        ),
        (
            "twilio",
            Arc::new(TwilioSignatureValidator::new("12345").expect("a usable secret")),
        ),
        (
            "shopify",
            Arc::new(ShopifySignatureValidator::new("hush").expect("a usable secret")),
        ),
        (
            "gitlab",
            Arc::new(GitLabSignatureValidator::new("My-S3cret-Token").expect("a usable secret")),
        ),
        (
            "linear",
            Arc::new(
                LinearSignatureValidator::new("lin_wh_test_secret")
                    .expect("a usable secret")
                    .clock(Clock::fixed(1_676_056_940)),
            ),
        ),
        (
            "discord",
            Arc::new(
                DiscordSignatureValidator::new(
                    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                )
                .expect("a usable secret")
                .clock(Clock::fixed(1_700_000_000)),
            ),
        ),
        (
            "hmac",
            Arc::new(
                HmacSignatureValidator::new("It's a Secret to Everybody").expect("a usable secret"),
            ),
        ),
        ("none", Arc::new(NoOpSignatureValidator::new())),
    ]
}

/// The validator `selector` picks.
pub fn pick(selector: u8) -> &'static (&'static str, Arc<dyn SignatureValidator>) {
    let all = validators();
    &all[usize::from(selector) % all.len()]
}
