//! Twilio's form parsing and URL rebuild: the first line is the URL the
//! request was sent to, or `Host path?query` to rebuild it from as the
//! transport does; the rest is the body (a form, or JSON with `bodySHA256`
//! in the URL). Never panics, and no `Host` moves the path and query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhooks_core::{
    Headers, SignatureValidator, SignedRequest, TwilioSignatureValidator, request_url,
};

const TOKEN: &str = "12345";

fuzz_target!(|data: &[u8]| {
    let (url, body) = match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (&b"https://mycompany.com/myapp.php?foo=1&bar=2"[..], data),
    };
    let url = String::from_utf8_lossy(url);
    let url = match url.split_once(' ') {
        Some((host, path)) => {
            let rebuilt = request_url(Some(host), path);
            assert!(
                rebuilt.ends_with(path),
                "{host:?} moved {path:?}: {rebuilt}"
            );
            rebuilt
        }
        None => url.into_owned(),
    };
    let validator = TwilioSignatureValidator::new(TOKEN).expect("a usable secret");
    for signature in ["RSOYDt4T1cUTdK1PDd93/VVr8B8=", "", "not base64", "===="] {
        let headers = Headers::new().with("X-Twilio-Signature", signature);
        let request = SignedRequest::new(&headers, body).with_url(&url);
        let _ = validator.verify(&request);
        let _ = validator.describe(&request);
    }
});
