//! The server's configuration, loaded and resolved the way the server does
//! at start-up, and what `send` needs from it: a source's secret and the
//! address the server listens on.

use std::path::Path;

use webhooks_core::Config;
use webhooks_core::config::{ResolvedSource, SourceConfig, WebhooksConfig};

use crate::output::Failure;

/// A configuration file that the server would start with.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The `[webhooks]` table.
    pub(crate) webhooks: WebhooksConfig,
    /// Its sources, resolved: validators built, `secret-env` read.
    pub(crate) sources: Vec<ResolvedSource>,
    /// `WEBHOOKS_BIND` when set, which overrides `bind`.
    pub(crate) bind_override: Option<String>,
}

impl Loaded {
    /// Reads, parses and resolves `path` as the server does: errors name
    /// the key (and line and column) and never quote the file.
    pub(crate) fn from_file(path: &Path) -> Result<Self, Failure> {
        let invalid = |error: webhooks_core::ConfigError| Failure::Usage(error.to_string());
        let mut webhooks = Config::load(path).map_err(invalid)?.webhooks;
        let bind_override =
            std::env::var_os("WEBHOOKS_BIND").map(|bind| bind.to_string_lossy().into_owned());
        if let Some(bind) = &bind_override {
            webhooks.bind = bind.clone();
            webhooks.validate().map_err(invalid)?;
        }
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
/// `secrets` (the newest, while rotating), or the `secret-env` variable,
/// which resolving has already checked is set. `None` for `validator =
/// "none"`.
pub(crate) fn signing_secret(source: &SourceConfig) -> Option<String> {
    if let Some(var) = &source.secret_env {
        return std::env::var(var).ok();
    }
    if let Some(first) = source.secrets.as_ref().and_then(|all| all.first()) {
        return Some(first.clone());
    }
    source.secret.clone()
}
