//! `webhooks check-config`: a good file listed without its secrets, a
//! broken one refused with its key, as the server would at start-up.

mod common;

use common::{config_file, webhooks};

const GOOD: &str = r#"
[webhooks]
bind = "127.0.0.1:3999"

[webhooks.dispatch]
mode = "queued"

[webhooks.sources.stripe]
validator = "stripe"
secrets = ["whsec_check_new_Kx81", "whsec_check_old_Kx82"]

[webhooks.sources.github]
validator = "github"
secret-env = "CLI_CHECK_GITHUB_SECRET"
allow-ips = ["192.30.252.0/22", "2a0a:a440::/29"]

[webhooks.sources.partner]
validator = "hmac"
secret = "partner-check-secret-Kx83"
"#;

const SECRETS: [&str; 4] = [
    "whsec_check_new_Kx81",
    "whsec_check_old_Kx82",
    "github-check-secret-Kx84",
    "partner-check-secret-Kx83",
];

#[test]
fn a_good_file_lists_its_sources_and_never_a_secret() {
    let file = config_file(GOOD);
    let env = [("CLI_CHECK_GITHUB_SECRET", "github-check-secret-Kx84")];
    let text = webhooks(&["check-config", "--config", file.to_str().unwrap()], &env);
    assert_eq!(text.code, 0, "{text:?}");
    for line in [
        "bind: 127.0.0.1:3999 (from the configuration file)",
        "dispatch: queued",
        "provider: in-memory",
        "stripe: POST /webhooks/stripe, validator stripe, secret from 2 secrets in the configuration file",
        "github: POST /webhooks/github, validator github, secret from environment variable CLI_CHECK_GITHUB_SECRET",
        "allow-ips: 192.30.252.0/22, 2a0a:a440::/29",
        "partner: POST /webhooks/partner, validator hmac, secret from the configuration file",
    ] {
        assert!(text.stdout.contains(line), "{line}: {text:?}");
    }
    // WEBHOOKS_CONFIG names the file when --config does not; WEBHOOKS_BIND
    // overrides `bind` as it does for the server.
    let path = file.to_str().unwrap();
    let env = [
        env[0],
        ("WEBHOOKS_CONFIG", path),
        ("WEBHOOKS_BIND", "127.0.0.1:4001"),
    ];
    let json = webhooks(&["check-config", "--json"], &env);
    assert_eq!(json.code, 0, "{json:?}");
    let report = json.json();
    assert_eq!(report["bind"], "127.0.0.1:4001");
    assert_eq!(report["bind_from"], "WEBHOOKS_BIND");
    assert_eq!(report["sources"].as_array().unwrap().len(), 3);
    assert_eq!(report["sources"][0]["name"], "github");
    assert_eq!(report["sources"][0]["path"], "POST /webhooks/github");
    assert_eq!(report["sources"][0]["allow_ips"][1], "2a0a:a440::/29");
    assert_eq!(report["sources"][2]["validator"], "stripe");
    for output in [&text.stdout, &text.stderr, &json.stdout, &json.stderr] {
        for secret in SECRETS {
            assert!(!output.contains(secret), "{secret} printed: {output}");
        }
    }
}

/// `WEBHOOKS__…` variables apply as they do for the server, and the report
/// says where each secret and `bind` came from.
#[test]
fn environment_variables_apply_and_each_origin_is_named() {
    let secret_file = config_file("partner-file-secret-Kx85\n");
    let secret_path = secret_file.to_str().unwrap();
    let file = config_file(GOOD);
    let env = [
        ("CLI_CHECK_GITHUB_SECRET", "github-check-secret-Kx84"),
        ("WEBHOOKS__BIND", "127.0.0.1:4002"),
        ("WEBHOOKS__SOURCES__PARTNER__SECRET_FILE", secret_path),
        ("CLI_STRIPE_NEW", "whsec_check_env_new_Kx86"),
        ("CLI_STRIPE_OLD", "whsec_check_env_old_Kx87"),
        (
            "WEBHOOKS__SOURCES__STRIPE__SECRETS_ENV",
            r#"["CLI_STRIPE_NEW", "CLI_STRIPE_OLD"]"#,
        ),
    ];
    let args = ["check-config", "--config", file.to_str().unwrap()];
    let text = webhooks(&args, &env);
    assert_eq!(text.code, 0, "{text:?}");
    let partner =
        format!("partner: POST /webhooks/partner, validator hmac, secret from file {secret_path}");
    for line in [
        "bind: 127.0.0.1:4002 (from WEBHOOKS__BIND)",
        "stripe: POST /webhooks/stripe, validator stripe, secret from environment variables CLI_STRIPE_NEW, CLI_STRIPE_OLD",
        &partner,
    ] {
        assert!(text.stdout.contains(line), "{line}: {text:?}");
    }
    let mut bad = env.to_vec();
    bad.push(("WEBHOOKS__DISPATCH__MODE", "later"));
    let run = webhooks(&args, &bad);
    assert_eq!(run.code, 2, "{run:?}");
    let named = "`webhooks.dispatch.mode`: unknown value, expected `inline` or `queued` \
                 (from environment variable WEBHOOKS__DISPATCH__MODE)";
    assert!(run.stderr.contains(named), "{run:?}");
    for output in [&text.stdout, &text.stderr, &run.stderr] {
        for secret in ["Kx84", "Kx85", "Kx86", "Kx87"] {
            assert!(!output.contains(secret), "{secret} printed: {output}");
        }
    }
}

#[test]
fn a_broken_file_exits_2_naming_the_key_without_quoting_it() {
    let cases = [
        (
            GOOD.replace("mode = \"queued\"", "mode = \"later\""),
            "webhooks.dispatch.mode",
        ),
        (
            GOOD.replace("secret = \"partner", "secert = \"partner"),
            "secert",
        ),
        (
            GOOD.replace("/22\"", "/33\""),
            "webhooks.sources.github.allow-ips",
        ),
        // Resolving reads `secret-env`, as the server's start-up does.
        (GOOD.to_owned(), "webhooks.sources.github.secret-env"),
    ];
    for (text, key) in cases {
        let file = config_file(&text);
        let run = webhooks(&["check-config", "--config", file.to_str().unwrap()], &[]);
        assert_eq!(run.code, 2, "{key}: {run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        assert!(run.stderr.contains(key), "{key}: {run:?}");
        for secret in SECRETS {
            assert!(!run.stderr.contains(secret), "{secret} printed: {run:?}");
        }
        let json = webhooks(
            &["check-config", "--json", "--config", file.to_str().unwrap()],
            &[],
        );
        assert_eq!(json.code, 2, "{json:?}");
        assert!(
            json.json()["error"].as_str().unwrap().contains(key),
            "{json:?}"
        );
    }
    let missing = webhooks(
        &["check-config", "--config", "/nonexistent/webhooks.toml"],
        &[],
    );
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("/nonexistent/webhooks.toml"),
        "{missing:?}"
    );
}
