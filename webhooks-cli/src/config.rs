//! The server's configuration, loaded and resolved the way the server does
//! at start-up, and what `send` needs from it: a source's secret and the
//! address the server listens on.

use std::path::Path;

use webhooks_core::Config;
use webhooks_core::config::{ResolvedSource, SourceConfig, WebhooksConfig, env_var_name};

use crate::output::Failure;

/// A configuration file that the server would start with.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The `[webhooks]` table.
    pub(crate) webhooks: WebhooksConfig,
    /// Its sources, resolved: validators built, `secret-env` read.
    pub(crate) sources: Vec<ResolvedSource>,
    /// The variable that set `bind` (`WEBHOOKS__BIND`, or its older name
    /// `WEBHOOKS_BIND`), if one did.
    pub(crate) bind_override: Option<String>,
}

impl Loaded {
    /// Reads, parses and resolves `path` as the server does, the
    /// `WEBHOOKS__…` variables set on it: errors name the key (and line and
    /// column, or the variable) and never quote the file.
    pub(crate) fn from_file(path: &Path) -> Result<Self, Failure> {
        let invalid = |error: webhooks_core::ConfigError| Failure::Usage(error.to_string());
        let webhooks = Config::load_with_env(path).map_err(invalid)?.webhooks;
        let bind_override = [env_var_name("webhooks.bind").as_str(), "WEBHOOKS_BIND"]
            .into_iter()
            .find(|var| std::env::var_os(var).is_some())
            .map(str::to_owned);
        let sources = webhooks.resolve_sources().map_err(invalid)?;
        Ok(Self {
            webhooks,
            sources,
            bind_override,
        })
    }

    /// The source named `name`, with its table.
    pub(crate) fn source(&self, name: &str) -> Result<(&ResolvedSource, &SourceConfig), Failure> {
        let resolved = self.sources.iter().find(|source| source.name == name);
        match (resolved, self.webhooks.sources.get(name)) {
            (Some(resolved), Some(table)) => Ok((resolved, table)),
            _ if !self.webhooks.enabled => Err(Failure::Usage(
                "webhooks.enabled = false: the server serves no source".into(),
            )),
            _ => {
                let known: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
                Err(Failure::Usage(format!(
                    "no source `{name}` in the configuration (sources: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }

    /// Where the server's webhook route for `source` is, from `bind`.
    pub(crate) fn default_url(&self, source: &str) -> String {
        let bind = &self.webhooks.bind;
        // An unspecified address listens everywhere, loopback included.
        let host = match bind.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() && addr.is_ipv4() => {
                format!("127.0.0.1:{}", addr.port())
            }
            Ok(addr) if addr.ip().is_unspecified() => format!("[::1]:{}", addr.port()),
            _ => bind.clone(),
        };
        format!("http://{host}/webhooks/{source}")
    }
}

/// The secret a source's provider signs with: `secret`, the first of
/// `secrets` or `secrets-env` (the newest, while rotating), the `secret-env`
/// variable, or `secret-file` without its trailing newline, as the server
/// reads them (resolving has already checked they are there). `None` for
/// `validator = "none"`.
pub(crate) fn signing_secret(source: &SourceConfig) -> Option<String> {
    if let Some(var) = &source.secret_env {
        return std::env::var(var).ok();
    }
    if let Some(var) = source.secrets_env.as_ref().and_then(|all| all.first()) {
        return std::env::var(var).ok();
    }
    if let Some(path) = &source.secret_file {
        let text = std::fs::read_to_string(path).ok()?;
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'));
        return Some(trimmed.unwrap_or(&text).to_owned());
    }
    if let Some(first) = source.secrets.as_ref().and_then(|all| all.first()) {
        return Some(first.clone());
    }
    source.secret.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_signs_without_its_trailing_newline() {
        let path = std::env::temp_dir().join(format!("webhooks-cli-secret-{}", std::process::id()));
        for (content, secret) in [
            ("s3cret\n", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("s3cret", "s3cret"),
        ] {
            std::fs::write(&path, content).unwrap();
            let text = format!(
                "[webhooks.sources.s]\nvalidator = \"hmac\"\nsecret-file = {:?}",
                path.display().to_string()
            );
            let config = Config::from_toml(&text).unwrap().webhooks;
            assert_eq!(
                signing_secret(&config.sources["s"]).as_deref(),
                Some(secret)
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
}
