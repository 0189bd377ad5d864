//! A source's secret keys: `secret`, `secrets`, `secret-env`,
//! `secrets-env` and `secret-file`, of which one is given; where the secret
//! comes from, and reading it at start-up.

use std::path::Path;

use super::error::ConfigError;
use super::source::SourceConfig;
use super::validator_kind::ValidatorKind;
use crate::{InvalidSecret, Secret, Secrets};

impl SourceConfig {
    /// Where the secret comes from, for the start-up log (never the secret).
    pub fn secret_origin(&self) -> String {
        if let Some(var) = &self.secret_env {
            return format!("environment variable {var}");
        }
        if let Some(vars) = &self.secrets_env {
            let plural = if vars.len() == 1 { "" } else { "s" };
            return format!("environment variable{plural} {}", vars.join(", "));
        }
        if let Some(path) = &self.secret_file {
            return format!("file {}", path.display());
        }
        if let Some(var) = &self.secret_var {
            return format!("environment variable {var}");
        }
        match (&self.secret, &self.secrets) {
            (_, Some(secrets)) => format!("{} secrets in the configuration file", secrets.len()),
            (Some(_), _) => "the configuration file".into(),
            _ => "none".into(),
        }
    }

    /// Whether the secret is read when the source is resolved (from the
    /// environment or a file), not written in the configuration.
    pub(super) fn secret_is_external(&self) -> bool {
        self.secret_env.is_some() || self.secrets_env.is_some() || self.secret_file.is_some()
    }

    /// Which secret keys are given: one, but none for `validator = "none"`,
    /// and no empty secret.
    pub(super) fn check_secret_keys(&self, name: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("webhooks.sources.{name}.{k}");
        let given = [
            ("secret", self.secret.is_some()),
            ("secrets", self.secrets.is_some()),
            ("secret-env", self.secret_env.is_some()),
            ("secrets-env", self.secrets_env.is_some()),
            ("secret-file", self.secret_file.is_some()),
        ];
        let count = given.iter().filter(|(_, set)| *set).count();
        if self.validator == ValidatorKind::None {
            if let Some((k, _)) = given.iter().find(|(_, set)| *set) {
                return Err(ConfigError::invalid(
                    key(k),
                    "validator \"none\" takes no secret",
                ));
            }
        } else if count == 0 {
            return Err(ConfigError::invalid(
                key("secret"),
                "required: one of `secret`, `secrets`, `secret-env`, `secrets-env` or `secret-file`",
            ));
        } else if count > 1 {
            let keys: Vec<String> = given
                .iter()
                .filter(|(_, set)| *set)
                .map(|(k, _)| format!("`{k}`"))
                .collect();
            return Err(ConfigError::invalid(
                key("secret"),
                format!(
                    "give only one of `secret`, `secrets`, `secret-env`, `secrets-env` or \
                     `secret-file` (given: {})",
                    keys.join(", ")
                ),
            ));
        }
        if self.secrets_env.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::invalid(
                key("secrets-env"),
                "name at least one variable",
            ));
        }
        if self
            .secrets
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.iter().any(String::is_empty))
            || self.secret.as_ref().is_some_and(String::is_empty)
        {
            return Err(ConfigError::invalid(
                key("secret"),
                "a secret may not be empty",
            ));
        }
        Ok(())
    }

    /// The secrets: from the configuration, from the variables `env`
    /// looks up, or from `secret-file`.
    pub(super) fn read_secrets(&self, name: &str, env: &Env<'_>) -> Result<Secrets, ConfigError> {
        let key = |k: &str| format!("webhooks.sources.{name}.{k}");
        let from_env = |k: &str, var: &String| {
            let value = env(var).filter(|value| !value.is_empty());
            // Bytes, so that a secret that is not UTF-8 is still whole.
            let value = value.map(|value| value.into_encoded_bytes());
            value
                .map(Secret::from)
                .ok_or_else(|| ConfigError::MissingEnv {
                    key: key(k),
                    var: var.clone(),
                })
        };
        if let Some(var) = &self.secret_env {
            return Ok(Secrets::from(from_env("secret-env", var)?));
        }
        if let Some(vars) = &self.secrets_env {
            let secrets: Vec<Secret> = vars
                .iter()
                .map(|var| from_env("secrets-env", var))
                .collect::<Result<_, _>>()?;
            return Ok(secrets.into_iter().collect());
        }
        if let Some(path) = &self.secret_file {
            return read_secret_file(&key("secret-file"), path).map(Secrets::from);
        }
        if let Some(secrets) = &self.secrets {
            return Ok(secrets.iter().map(String::as_str).collect());
        }
        Ok(self
            .secret
            .as_deref()
            .map(Secrets::from)
            .unwrap_or_else(|| Secrets::from_iter::<[&str; 0]>([])))
    }

    /// A secret the validator cannot use, named by the key it was given
    /// under; the message says which and why, never the secret.
    pub(super) fn unusable(&self, name: &str, error: InvalidSecret) -> ConfigError {
        let given_as = if self.secret_env.is_some() {
            "secret-env"
        } else if self.secrets_env.is_some() {
            "secrets-env"
        } else if self.secret_file.is_some() {
            "secret-file"
        } else if self.secrets.is_some() {
            "secrets"
        } else {
            "secret"
        };
        ConfigError::invalid(
            format!("webhooks.sources.{name}.{given_as}"),
            error.to_string(),
        )
    }
}

/// Looks a variable up: `std::env::var_os`, or a map in the tests.
pub(super) type Env<'a> = dyn Fn(&str) -> Option<std::ffi::OsString> + 'a;

/// The secret in the file at `path`, given at `key`, without one trailing
/// `\n` or `\r\n` (what `echo` and editors leave). An unreadable or empty
/// file is an error naming the key and the path, never the content.
fn read_secret_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let error = |reason: String| ConfigError::SecretFile {
        key: key.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let mut bytes = std::fs::read(path).map_err(|io| error(io.to_string()))?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.is_empty() {
        return Err(error("empty".into()));
    }
    Ok(Secret::from(bytes))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::ResolvedSource;

    #[test]
    fn secret_env_is_read_at_build_time() {
        let source: SourceConfig =
            toml::from_str("validator = \"github\"\nsecret-env = \"WEBHOOKS_TEST_UNSET_VAR_42\"")
                .unwrap();
        assert_eq!(
            source.build_validator("gh").unwrap_err(),
            ConfigError::MissingEnv {
                key: "webhooks.sources.gh.secret-env".into(),
                var: "WEBHOOKS_TEST_UNSET_VAR_42".into()
            }
        );
        assert_eq!(
            source.secret_origin(),
            "environment variable WEBHOOKS_TEST_UNSET_VAR_42"
        );
        // Checking the file does not need the variable.
        assert_eq!(source.check("gh"), Ok(()));
    }

    fn temp_file(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("webhooks-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Verifies an `hmac` signature of `body` made with `secret`.
    fn accepts(source: &ResolvedSource, secret: &str, body: &[u8]) -> bool {
        let signature = crate::HmacSignatureValidator::sign(secret.as_bytes(), body);
        let headers = crate::Headers::new().with("X-Signature", &format!("sha256={signature}"));
        let request = crate::SignedRequest::new(&headers, body);
        source.validator.verify(&request).is_ok()
    }

    #[test]
    fn secrets_env_accepts_each_variable_and_names_a_missing_one() {
        let source: SourceConfig =
            toml::from_str("validator = \"hmac\"\nsecrets-env = [\"GH_NEW\", \"GH_OLD\"]").unwrap();
        assert_eq!(
            source.secret_origin(),
            "environment variables GH_NEW, GH_OLD"
        );
        assert_eq!(source.check("gh"), Ok(()));
        let env = |var: &str| match var {
            "GH_NEW" => Some("new-secret".into()),
            "GH_OLD" => Some("old-secret".into()),
            _ => None,
        };
        let resolved = source.resolve_with("gh", &env).unwrap();
        assert_eq!(
            resolved.secret_origin,
            "environment variables GH_NEW, GH_OLD"
        );
        for secret in ["new-secret", "old-secret"] {
            assert!(accepts(&resolved, secret, b"{}"), "{secret}");
        }
        assert!(!accepts(&resolved, "other", b"{}"));
        let only_new = |var: &str| (var == "GH_NEW").then(|| "new-secret".into());
        assert_eq!(
            source.resolve_with("gh", &only_new).unwrap_err(),
            ConfigError::MissingEnv {
                key: "webhooks.sources.gh.secrets-env".into(),
                var: "GH_OLD".into()
            }
        );
        let none: SourceConfig = toml::from_str("validator = \"hmac\"\nsecrets-env = []").unwrap();
        let message = none.check("gh").unwrap_err().to_string();
        assert!(
            message.contains("webhooks.sources.gh.secrets-env"),
            "{message}"
        );
    }

    #[test]
    fn secret_file_is_read_without_its_trailing_newline() {
        for (name, content) in [
            ("lf", &b"file-secret\n"[..]),
            ("crlf", b"file-secret\r\n"),
            ("bare", b"file-secret"),
        ] {
            let path = temp_file(name, content);
            let text = format!(
                "validator = \"hmac\"\nsecret-file = {:?}",
                path.display().to_string()
            );
            let source: SourceConfig = toml::from_str(&text).unwrap();
            assert_eq!(source.secret_origin(), format!("file {}", path.display()));
            let resolved = source.resolve("gh").unwrap();
            assert!(accepts(&resolved, "file-secret", b"{}"), "{name}");
        }
        // Only one newline is trimmed: the rest is the secret.
        let path = temp_file("two", b"file-secret\n\n");
        let source: SourceConfig = toml::from_str(&format!(
            "validator = \"hmac\"\nsecret-file = {:?}",
            path.display().to_string()
        ))
        .unwrap();
        assert!(!accepts(
            &source.resolve("gh").unwrap(),
            "file-secret",
            b"{}"
        ));
        for (name, content, reason) in [
            ("empty", &b"\n"[..], "empty"),
            ("missing", b"", "No such file"),
        ] {
            let path = temp_file(name, content);
            if name == "missing" {
                std::fs::remove_file(&path).unwrap();
            }
            let source: SourceConfig = toml::from_str(&format!(
                "validator = \"hmac\"\nsecret-file = {:?}",
                path.display().to_string()
            ))
            .unwrap();
            let message = source.resolve("gh").unwrap_err().to_string();
            let expected = format!(
                "`webhooks.sources.gh.secret-file`: secret file {}: {reason}",
                path.display()
            );
            assert!(message.contains(&expected), "{message}");
        }
    }

    #[test]
    fn secret_keys_are_exclusive_and_the_error_says_which_were_given() {
        let source: SourceConfig = toml::from_str(
            "validator = \"github\"\nsecret = \"whsec_x\"\nsecret-file = \"/run/s\"",
        )
        .unwrap();
        let message = source.check("gh").unwrap_err().to_string();
        assert!(
            message.contains("`webhooks.sources.gh.secret`"),
            "{message}"
        );
        assert!(
            message.contains("(given: `secret`, `secret-file`)"),
            "{message}"
        );
        assert!(!message.contains("whsec_x"), "{message}");
    }
}
