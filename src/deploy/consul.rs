//! A small Consul HTTP client: the one read `deploy` waits on. The ACL token goes in the
//! `X-Consul-Token` header and nowhere else — not in URLs, messages or logs.
//!
//! Readiness contract (content templates, `templates/consul-agent.j2`): every node registers a TTL
//! check with ID `first-boot`: `warning` while first boot runs, `passing` (output `ready`) when every
//! first-boot unit succeeded, `critical` with output `failed: <units>` when one failed. It is read
//! with `GET /v1/health/node/<node>`.
use crate::appliance::Secret;
use crate::appliance::client::percent_encode;
use crate::appliance::log::Log;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The check ID the content templates register.
pub const FIRST_BOOT_CHECK: &str = "first-boot";

/// What Consul says about a node's first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstBoot {
    /// The node is not in the catalog, or has no `first-boot` check yet.
    NotRegistered,
    Check {
        status: String,
        output: String,
        modify_index: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsulError {
    /// No answer (refused, reset, timed out).
    Connect(String),
    /// 401/403: the token was refused.
    Denied(String),
    /// Another status or an unreadable answer.
    Protocol(String),
}

impl std::fmt::Display for ConsulError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsulError::Connect(m) => write!(f, "no answer from Consul: {m}"),
            ConsulError::Denied(m) => write!(f, "Consul refused the ACL token: {m}"),
            ConsulError::Protocol(m) => write!(f, "unexpected answer from Consul: {m}"),
        }
    }
}

pub struct ConsulClient {
    agent: ureq::Agent,
    base: String,
    token: Secret,
    log: Log,
}

impl ConsulClient {
    /// `base`: `http(s)://host:port`. Each request is limited to `timeout`. `ca_cert`: trust only
    /// this PEM CA for https (a lab Consul's own CA); otherwise the platform's trust store
    /// (`appliance::trust`).
    pub fn new(
        base: &str,
        token: Secret,
        timeout: Duration,
        ca_cert: Option<&Path>,
        log: Log,
    ) -> crate::Result<ConsulClient> {
        let tls = crate::appliance::trust::verified(ca_cert)?;
        let agent =
            crate::appliance::trust::agent(tls, |config| config.timeout_global(Some(timeout)));
        Ok(ConsulClient {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token,
            log,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The node's `first-boot` check.
    pub fn first_boot(&self, node: &str) -> Result<FirstBoot, ConsulError> {
        let url = format!("{}/v1/health/node/{}", self.base, percent_encode(node));
        self.log.at(1, || format!("→ GET {url}"));
        self.log
            .at(2, || "  headers: X-Consul-Token: ***".to_string());
        let mut response = self
            .agent
            .get(&url)
            .header("X-Consul-Token", self.token.expose())
            .call()
            .map_err(|e| ConsulError::Connect(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        self.log.at(1, || format!("← {status} GET {url}"));
        let body = response
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_string()
            .map_err(|e| ConsulError::Connect(format!("GET {url}: {e}")))?;
        let excerpt = || body.trim().chars().take(200).collect::<String>();
        match status {
            200 => {}
            401 | 403 => {
                return Err(ConsulError::Denied(format!(
                    "GET {url}: HTTP {status}: {}",
                    excerpt()
                )));
            }
            _ => {
                return Err(ConsulError::Protocol(format!(
                    "GET {url}: HTTP {status}: {}",
                    excerpt()
                )));
            }
        }
        let checks: Value = serde_json::from_str(&body)
            .map_err(|e| ConsulError::Protocol(format!("GET {url}: not JSON: {e}")))?;
        let checks = checks.as_array().ok_or_else(|| {
            ConsulError::Protocol(format!("GET {url}: expected a list of checks"))
        })?;
        let check = checks
            .iter()
            .find(|c| c.get("CheckID").and_then(Value::as_str) == Some(FIRST_BOOT_CHECK));
        Ok(match check {
            None => FirstBoot::NotRegistered,
            Some(c) => FirstBoot::Check {
                status: c
                    .get("Status")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                output: c
                    .get("Output")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                modify_index: c.get("ModifyIndex").and_then(Value::as_u64).unwrap_or(0),
            },
        })
    }
}

/// What a `first-boot` check means for a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The units the node names (`failed: a.service b.service`).
    Failed(Vec<String>),
    /// Still waiting, with what to tell the user.
    Waiting(String),
}

/// Reads a check the way the content templates write it. A `critical` check that does not say
/// `failed:` (e.g. `TTL expired` while the node reboots) is not a verdict: keep waiting.
pub fn readiness(first_boot: &FirstBoot) -> Readiness {
    match first_boot {
        FirstBoot::NotRegistered => Readiness::Waiting(
            "the node has not registered its first-boot check in Consul yet".into(),
        ),
        FirstBoot::Check { status, output, .. } => match status.as_str() {
            "passing" => Readiness::Ready,
            "critical" if output.starts_with("failed") => {
                let units = output
                    .trim_start_matches("failed")
                    .trim_start_matches(':')
                    .split([' ', ','])
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .collect();
                Readiness::Failed(units)
            }
            other => Readiness::Waiting(format!("first-boot check {other}: {output}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn check(status: &str, output: &str) -> FirstBoot {
        FirstBoot::Check {
            status: status.into(),
            output: output.into(),
            modify_index: 1,
        }
    }
    #[test]
    fn reads_the_contract() {
        assert_eq!(readiness(&check("passing", "ready")), Readiness::Ready);
        assert_eq!(
            readiness(&check(
                "critical",
                "failed: docker-install.service datadog.service"
            )),
            Readiness::Failed(vec![
                "docker-install.service".into(),
                "datadog.service".into()
            ])
        );
        assert!(matches!(
            readiness(&check("critical", "TTL expired")),
            Readiness::Waiting(_)
        ));
        assert!(matches!(
            readiness(&check("warning", "first boot in progress")),
            Readiness::Waiting(_)
        ));
        assert!(matches!(
            readiness(&FirstBoot::NotRegistered),
            Readiness::Waiting(_)
        ));
    }
}
