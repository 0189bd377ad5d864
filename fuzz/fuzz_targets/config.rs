//! The configuration loader on arbitrary text: never panics, and an error
//! never repeats a line of the file that holds a secret-looking value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhooks_core::Config;

fuzz_target!(|text: &str| {
    let Err(error) = Config::from_toml(text) else {
        return;
    };
    let message = error.to_string();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("whsec_") && line.len() > 12 {
            assert!(
                !message.contains(line),
                "the error repeats a line of the file: {message}"
            );
        }
    }
});
