//! Lint configuration: `i3s-lint.toml` (deny level and allow lists). Inline allow comments in
//! plan scripts are handled in `target`.
//!
//! ```toml
//! deny = "warning"                 # default for --deny: note | warning | error
//! allow = ["I3S009", "SC2086"]     # rule ids or shellcheck codes, everywhere
//!
//! [[allow_in]]                     # only in some artifacts (exact names or a trailing `*`)
//! rule = "I3S070"                  # a rule id or a shellcheck code
//! artifacts = ["HudsonAlpha_*"]
//! reason = "upstream scripts, kept as shipped"
//! ```
use super::{Finding, rules};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The lowest severity that makes `lint` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DenyLevel {
    Note,
    Warning,
    #[default]
    Error,
}

impl DenyLevel {
    pub fn severity(self) -> super::Severity {
        match self {
            DenyLevel::Note => super::Severity::Note,
            DenyLevel::Warning => super::Severity::Warning,
            DenyLevel::Error => super::Severity::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowIn {
    pub rule: String,
    pub artifacts: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub deny: Option<DenyLevel>,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub allow_in: Vec<AllowIn>,
}

/// The conventional file name, looked up in the current directory.
pub const FILE_NAME: &str = "i3s-lint.toml";

fn is_rule_or_code(id: &str) -> bool {
    rules::rule(id).is_some()
        || id
            .strip_prefix("SC")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Config {
    /// Parses a config file; errors name the file, line and column.
    pub fn parse(text: &str, path: &Path) -> crate::Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |s| crate::error::line_column(text, s.start));
            crate::Error::at(
                crate::error::Location::file(path).at(line, column),
                e.message().to_string(),
            )
        })?;
        let ids = config
            .allow
            .iter()
            .chain(config.allow_in.iter().map(|a| &a.rule));
        for id in ids {
            if !is_rule_or_code(id) {
                return Err(crate::Error::at(
                    crate::error::Location::file(path),
                    format!(
                        "unknown rule {id:?} (rule ids look like I3S031, shellcheck codes like SC2086)"
                    ),
                ));
            }
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> crate::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
        Config::parse(&text, path)
    }

    /// Whether the config allows (suppresses) the finding.
    pub fn allows(&self, finding: &Finding) -> bool {
        let matches = |id: &str| {
            id.eq_ignore_ascii_case(&finding.rule) || finding.code.as_deref() == Some(id)
        };
        self.allow.iter().any(|id| matches(id))
            || self.allow_in.iter().any(|a| {
                matches(&a.rule)
                    && a.artifacts
                        .iter()
                        .any(|pattern| match pattern.strip_suffix('*') {
                            Some(prefix) => finding.artifact.starts_with(prefix),
                            None => finding.artifact == *pattern,
                        })
            })
    }
}
