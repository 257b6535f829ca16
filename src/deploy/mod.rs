//! `deploy` / `undeploy`: provision a server from a use-case file and wait until it is really up.
//!
//! - [`usecase`]: the `deployments/<name>.toml` files (format in docs/deploy.md).
//! - [`attributes`]: the profile's custom attributes, checked against the deployment plan as
//!   published.
//! - [`consul`]: the Consul client and the readiness contract of the content templates.
//! - [`flow`]: the phases — validate, (replace), create profile, power on, wait until ready.
//!
//! The appliance calls deploy makes live in [`crate::appliance::oneview`]. Nothing is written
//! before every check passed; every problem is reported at once.
pub mod attributes;
pub mod consul;
pub mod flow;
pub mod usecase;

pub use flow::{DeployOptions, deploy, undeploy};
use serde::Serialize;
use std::fmt;

/// One thing wrong with a use case, naming its key (`attributes.VLAN_ID`, `server.bay`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(key: &str, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl Problem {
    /// `FILE:LINE: key: message` (or `FILE: key: message`), the way compilers point at input.
    pub fn located(&self, file: &std::path::Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}: {}: {}", file.display(), self.key, self.message),
            None => format!("{}: {}: {}", file.display(), self.key, self.message),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// How a run ended; the CLI maps it to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// deploy: the node reports ready (exit 0).
    Ready,
    /// deploy --dry-run: everything checks out (exit 0).
    Valid,
    /// undeploy: the profile is gone (exit 0).
    Removed,
    /// A phase failed (exit 1).
    Failed,
    /// Waiting for the node ran out of time (exit 3).
    TimedOut,
}

/// One finished phase.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Phase {
    pub name: &'static str,
    /// Seconds since the run started, when the phase ended.
    pub elapsed_secs: f64,
    pub ok: bool,
    pub detail: String,
}

/// What a run did; printed as lines while it runs and as JSON with `--json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub use_case: String,
    pub profile: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_units: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    pub phases: Vec<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_hardware_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consul_node: Option<String>,
    /// The profile body that is (or, with --dry-run, would be) sent; secret values are `***`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_body: Option<serde_json::Value>,
}

impl Report {
    /// A closing line for humans.
    pub fn summary(&self) -> String {
        let what = match self.outcome {
            Outcome::Ready => format!("{}: deployed, the node reports ready", self.profile),
            Outcome::Valid => format!("{}: valid (dry run, nothing written)", self.profile),
            Outcome::Removed => format!("{}: undeployed", self.profile),
            Outcome::Failed => {
                let units = if self.failed_units.is_empty() {
                    String::new()
                } else {
                    format!(" (failed unit: {})", self.failed_units.join(", "))
                };
                format!(
                    "{}: FAILED in phase {}{units}",
                    self.profile,
                    self.failed_phase.unwrap_or("?")
                )
            }
            Outcome::TimedOut => format!(
                "{}: TIMED OUT in phase {}",
                self.profile,
                self.failed_phase.unwrap_or("?")
            ),
        };
        let total = self
            .phases
            .last()
            .map(|p| p.elapsed_secs)
            .unwrap_or_default();
        format!("{what} after {total:.1}s")
    }
}
