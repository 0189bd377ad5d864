//! `WEBHOOKS__…` environment variables: every key of the file can be set
//! from the environment by one rule, applied to the parsed document before
//! it is deserialized, so a misspelled key or a bad value from the
//! environment is refused like one in the file.
//!
//! The rule:
//!
//! - `WEBHOOKS__` then the key's path below `[webhooks]`, one segment per
//!   table level, joined by `__`: `WEBHOOKS__DISPATCH__MODE` is
//!   `webhooks.dispatch.mode`.
//! - A segment names the key of its table that, upper-cased with `-` and `.`
//!   written `_`, equals it (case aside): `MAX_BODY_BYTES` is
//!   `max-body-bytes`, and `SOURCES__PARTNER_TS` the file's source
//!   `partner-ts` (or `partner_ts`: two such keys in one table are an
//!   error). A segment that names no key of the file makes one, lower-cased
//!   with `_` read as `-`: an override can add a source.
//! - The value is a TOML value when it parses as one (`65536`, `true`,
//!   `["NEW", "OLD"]`, `"12345"`), else the text as a string (`queued`,
//!   `127.0.0.1:3000`).
//! - Setting one of a secret's keys (`secret`, `secrets`, `secret-env`,
//!   `secrets-env`, `secret-file`) drops the file's others in that table, as
//!   setting `url` or `url-env` drops the other: the environment replaces
//!   how the file gives it.
//! - `WEBHOOKS_BIND` is the older name of `WEBHOOKS__BIND`; giving both is
//!   an error.
//!
//! Every error about a key set here names the variable, never its value.

use std::ffi::OsString;

use serde::Deserialize;

use super::error::ConfigError;

/// The prefix of every override.
const PREFIX: &str = "WEBHOOKS__";
/// The older name of `WEBHOOKS__BIND`.
const BIND_ALIAS: &str = "WEBHOOKS_BIND";
/// Keys of which a table holds one: setting one drops the file's others.
const EXCLUSIVE: [&[&str]; 2] = [
    &[
        "secret",
        "secrets",
        "secret-env",
        "secrets-env",
        "secret-file",
    ],
    &["url", "url-env"],
];

/// The variable that sets the dotted key `key` (which starts with
/// `webhooks.`), by the rule: `webhooks.max-body-bytes` is
/// `WEBHOOKS__MAX_BODY_BYTES`.
///
/// ```
/// use webhooks_core::config::env_var_name;
///
/// assert_eq!(env_var_name("webhooks.sources.partner-ts.secret-env"), "WEBHOOKS__SOURCES__PARTNER_TS__SECRET_ENV");
/// ```
pub fn env_var_name(key: &str) -> String {
    let segments: Vec<String> = key
        .strip_prefix("webhooks.")
        .unwrap_or(key)
        .split('.')
        .map(spelled)
        .collect();
    format!("{PREFIX}{}", segments.join("__"))
}

/// A name as a segment of a variable: upper-case, `-` and `.` as `_`.
fn spelled(name: &str) -> String {
    name.to_uppercase().replace(['-', '.'], "_")
}

/// One variable.
#[derive(Debug, Clone)]
struct Override {
    var: String,
    /// Below `[webhooks]`, as written in the variable's name.
    segments: Vec<String>,
    value: String,
}

/// The overrides an environment gives.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvOverrides(Vec<Override>);

/// What the overrides set, to name the variable behind a key in an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    /// Each key set, and by which variable.
    set: Vec<(Vec<String>, String)>,
    /// Each table made because a variable named a key below it.
    made: Vec<(Vec<String>, String)>,
}

impl EnvOverrides {
    /// The `WEBHOOKS__…` variables (and `WEBHOOKS_BIND`) among `vars`;
    /// every other variable is ignored. A value that is not UTF-8 is an
    /// error naming its variable.
    pub(crate) fn from_vars<K, V>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut overrides = Vec::new();
        for (var, value) in vars {
            let var = var.into().to_string_lossy().into_owned();
            let segments = if var == BIND_ALIAS {
                vec!["BIND".to_owned()]
            } else if let Some(path) = var.strip_prefix(PREFIX) {
                let segments: Vec<String> = path.split("__").map(str::to_owned).collect();
                let well_formed = |segment: &String| {
                    !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !segments.iter().all(well_formed) {
                    return Err(ConfigError::Env {
                        var,
                        reason: "expected WEBHOOKS__ and key names (letters, digits, `_`) \
                                 joined by `__`"
                            .into(),
                    });
                }
                segments
            } else {
                continue;
            };
            let Ok(value) = value.into().into_string() else {
                return Err(ConfigError::Env {
                    var,
                    reason: "not UTF-8".into(),
                });
            };
            overrides.push(Override {
                var,
                segments,
                value,
            });
        }
        overrides.sort_by(|a, b| a.var.cmp(&b.var));
        Ok(Self(overrides))
    }

    /// The overrides of this process's environment.
    pub(crate) fn from_process() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars_os())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets each variable's key in `document`.
    pub(crate) fn apply(&self, document: &mut toml::Table) -> Result<Applied, ConfigError> {
        let mut applied = Applied::default();
        for one in &self.0 {
            one.apply(document, &mut applied)?;
        }
        Ok(applied)
    }
}

impl Override {
    fn apply(&self, document: &mut toml::Table, applied: &mut Applied) -> Result<(), ConfigError> {
        let error = |reason: String| ConfigError::Env {
            var: self.var.clone(),
            reason,
        };
        let mut path = Vec::new();
        let mut table = document;
        let root = "WEBHOOKS".to_owned();
        let (last, parents) = self.segments.split_last().expect("at least one segment");
        for segment in std::iter::once(&root).chain(parents) {
            let key = key_named(table, segment).map_err(&error)?;
            path.push(key.clone());
            if !table.contains_key(&key) {
                applied.made.push((path.clone(), self.var.clone()));
            }
            let entry = table
                .entry(key)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| error(format!("`{}` is not a table", path.join("."))))?;
        }
        let key = key_named(table, last).map_err(&error)?;
        path.push(key.clone());
        if let Some((_, other)) = applied.set.iter().find(|(set, _)| *set == path) {
            return Err(error(format!(
                "`{}` is also set by {other}",
                path.join(".")
            )));
        }
        if let Some(group) = EXCLUSIVE.iter().find(|group| group.contains(&key.as_str())) {
            for sibling in group.iter().filter(|sibling| **sibling != key) {
                let mut sibling_path = path.clone();
                *sibling_path.last_mut().expect("a key") = (*sibling).to_owned();
                if !applied.set.iter().any(|(set, _)| *set == sibling_path) {
                    table.remove(*sibling);
                }
            }
        }
        table.insert(key, value(&self.value));
        applied.set.push((path, self.var.clone()));
        Ok(())
    }
}

/// The key of `table` that `segment` names, else the key it makes.
fn key_named(table: &toml::Table, segment: &str) -> Result<String, String> {
    let wanted = segment.to_uppercase();
    let mut found = table.keys().filter(|key| spelled(key) == wanted);
    match (found.next(), found.next()) {
        (Some(key), None) => Ok(key.clone()),
        (Some(one), Some(other)) => Err(format!(
            "`{segment}` could name `{one}` or `{other}`; rename one of them"
        )),
        (None, _) => Ok(segment.to_lowercase().replace('_', "-")),
    }
}

/// A TOML value when `text` is one, else `text` as a string.
fn value(text: &str) -> toml::Value {
    toml::Value::deserialize(toml::de::ValueDeserializer::new(text))
        .unwrap_or_else(|_| toml::Value::String(text.to_owned()))
}

impl Applied {
    /// The variable behind the key at `path` (map keys from the root): the
    /// one that set it or a table above it, else the one that made the
    /// table it is in (an added source); `None` when it is the file's.
    pub(crate) fn var_for(&self, path: &[String]) -> Option<&str> {
        let set = self.set.iter().find(|(set, _)| path.starts_with(set));
        let made = || {
            self.made
                .iter()
                .filter(|(made, _)| made.len() > 1 && path.starts_with(made))
                .max_by_key(|(made, _)| made.len())
        };
        set.or_else(made).map(|(_, var)| var.as_str())
    }

    /// [`Applied::var_for`] of a dotted key (`webhooks.sources.s.secret`).
    pub(crate) fn var_for_key(&self, key: &str) -> Option<&str> {
        let mut candidates = self.set.iter().chain(&self.made);
        // Source names may hold `.`: compare the dotted forms.
        let key_is_below = |path: &Vec<String>| {
            let dotted = path.join(".");
            key == dotted || key.starts_with(&format!("{dotted}."))
        };
        candidates
            .find(|(path, _)| path.len() > 1 && key_is_below(path))
            .map(|(_, var)| var.as_str())
    }

    /// The variable that set exactly the key at `path`.
    pub(crate) fn var_setting(&self, path: &[&str]) -> Option<&str> {
        self.set
            .iter()
            .find(|(set, _)| set.iter().map(String::as_str).eq(path.iter().copied()))
            .map(|(_, var)| var.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(file: &str, vars: &[(&str, &str)]) -> Result<(toml::Table, Applied), ConfigError> {
        let mut document: toml::Table = toml::from_str(file).unwrap();
        let overrides = EnvOverrides::from_vars(vars.iter().copied())?;
        let applied = overrides.apply(&mut document)?;
        Ok((document, applied))
    }

    #[test]
    fn a_variable_names_a_key_by_the_rule() {
        let (document, applied) = applied(
            "[webhooks.dispatch]\nmode = \"inline\"\n[webhooks.sources.partner-ts]\nvalidator = \"hmac\"",
            &[
                ("WEBHOOKS__DISPATCH__MODE", "queued"),
                ("WEBHOOKS__MAX_BODY_BYTES", "65536"),
                ("WEBHOOKS__SOURCES__PARTNER_TS__SECRETS_ENV", "[\"NEW\", \"OLD\"]"),
                ("WEBHOOKS__EVENT_LOG__ENABLED", "false"),
                ("WEBHOOKS__BIND", "0.0.0.0:8080"),
                ("PATH", "/bin"),
                ("WEBHOOKS_CONFIG", "x.toml"),
            ],
        )
        .unwrap();
        let expected: toml::Table = toml::from_str(
            "[webhooks]\nbind = \"0.0.0.0:8080\"\nmax-body-bytes = 65536\n\
             [webhooks.dispatch]\nmode = \"queued\"\n[webhooks.event-log]\nenabled = false\n\
             [webhooks.sources.partner-ts]\nvalidator = \"hmac\"\nsecrets-env = [\"NEW\", \"OLD\"]",
        )
        .unwrap();
        assert_eq!(document, expected);
        let path = |key: &str| key.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            applied.var_for(&path("webhooks.sources.partner-ts.secrets-env")),
            Some("WEBHOOKS__SOURCES__PARTNER_TS__SECRETS_ENV")
        );
        assert_eq!(
            applied.var_for(&path("webhooks.event-log.enabled")),
            Some("WEBHOOKS__EVENT_LOG__ENABLED")
        );
        assert_eq!(applied.var_for(&path("webhooks.sources.partner-ts")), None);
        assert_eq!(
            applied.var_for(&path("webhooks.dispatch.max-attempts")),
            None
        );
        assert_eq!(
            env_var_name("webhooks.idempotency.redis.url-env"),
            "WEBHOOKS__IDEMPOTENCY__REDIS__URL_ENV"
        );
    }

    #[test]
    fn values_are_toml_when_they_parse_else_strings() {
        for (text, expected) in [
            ("65536", toml::Value::Integer(65536)),
            ("true", toml::Value::Boolean(true)),
            ("\"12345\"", toml::Value::String("12345".into())),
            ("queued", toml::Value::String("queued".into())),
            (
                "127.0.0.1:3000",
                toml::Value::String("127.0.0.1:3000".into()),
            ),
            ("", toml::Value::String(String::new())),
            ("whsec_a=b", toml::Value::String("whsec_a=b".into())),
            ("1\nother = 2", toml::Value::String("1\nother = 2".into())),
        ] {
            assert_eq!(value(text), expected, "{text:?}");
        }
        let list = value("[\"NEW\", \"OLD\"]");
        assert_eq!(list.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn an_added_source_is_named_by_the_rule_and_its_variables_own_it() {
        let (document, applied) = applied(
            "",
            &[
                ("WEBHOOKS__SOURCES__NEW_ONE__VALIDATOR", "github"),
                ("WEBHOOKS__SOURCES__NEW_ONE__SECRET_FILE", "/run/s"),
            ],
        )
        .unwrap();
        let source = &document["webhooks"]["sources"]["new-one"];
        assert_eq!(source["validator"].as_str(), Some("github"));
        let path: Vec<String> = ["webhooks", "sources", "new-one"].map(String::from).into();
        assert_eq!(
            applied.var_for(&path),
            Some("WEBHOOKS__SOURCES__NEW_ONE__SECRET_FILE")
        );
        assert_eq!(
            applied.var_for_key("webhooks.sources.new-one.secret"),
            Some("WEBHOOKS__SOURCES__NEW_ONE__SECRET_FILE")
        );
        // The root table made for it is nobody's: other keys stay defaults.
        assert_eq!(applied.var_for_key("webhooks.bind"), None);
    }

    #[test]
    fn a_secret_or_url_from_the_environment_replaces_the_files() {
        let file = "[webhooks.sources.s]\nvalidator = \"github\"\nsecret = \"x\"\n\
                    [webhooks.idempotency.redis]\nurl = \"redis://:pw@h/0\"";
        let (document, _) = applied(
            file,
            &[
                ("WEBHOOKS__SOURCES__S__SECRET_ENV", "GH_SECRET"),
                ("WEBHOOKS__IDEMPOTENCY__REDIS__URL_ENV", "REDIS_URL"),
            ],
        )
        .unwrap();
        let source = document["webhooks"]["sources"]["s"].as_table().unwrap();
        assert!(!source.contains_key("secret"));
        assert_eq!(source["secret-env"].as_str(), Some("GH_SECRET"));
        let redis = document["webhooks"]["idempotency"]["redis"]
            .as_table()
            .unwrap();
        assert!(!redis.contains_key("url"));
        // Two from the environment both stay, for the check to refuse.
        let (document, _) = applied(
            file,
            &[
                ("WEBHOOKS__SOURCES__S__SECRET_ENV", "A"),
                ("WEBHOOKS__SOURCES__S__SECRET_FILE", "/b"),
            ],
        )
        .unwrap();
        let source = document["webhooks"]["sources"]["s"].as_table().unwrap();
        assert!(source.contains_key("secret-env") && source.contains_key("secret-file"));
    }

    #[test]
    fn bad_variables_are_errors_naming_them_never_their_values() {
        let cases = [
            (
                "[webhooks]\nbind = \"127.0.0.1:1\"",
                vec![("WEBHOOKS__BIND", "whsec_a"), ("WEBHOOKS_BIND", "whsec_b")],
                "WEBHOOKS__BIND: `webhooks.bind` is also set by WEBHOOKS_BIND",
            ),
            (
                "[webhooks]\nbind = \"whsec_c\"",
                vec![("WEBHOOKS__BIND__PORT", "whsec_a")],
                "WEBHOOKS__BIND__PORT: `webhooks.bind` is not a table",
            ),
            (
                "",
                vec![("WEBHOOKS__SOURCES____SECRET", "whsec_a")],
                "WEBHOOKS__SOURCES____SECRET: expected",
            ),
            (
                "",
                vec![("WEBHOOKS__SOURCES__A-B__SECRET", "whsec_a")],
                "WEBHOOKS__SOURCES__A-B__SECRET: expected",
            ),
            (
                "[webhooks.sources.a-b]\nvalidator = \"github\"\n[webhooks.sources.a_b]\nvalidator = \"github\"",
                vec![("WEBHOOKS__SOURCES__A_B__SECRET", "whsec_a")],
                "could name `a-b` or `a_b`",
            ),
        ];
        for (file, vars, expected) in cases {
            let message = applied(file, &vars).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("whsec"), "{message}");
        }
    }
}
