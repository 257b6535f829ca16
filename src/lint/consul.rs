//! What Consul's ACL system requires of the HTTP endpoints plan scripts call, and whether a
//! policy (HCL rules) grants it. The one place that knows it: lint rule I3S113 and the content
//! tests use it.
//!
//! Sources (Consul's HTTP API documentation, "ACL Required" of each endpoint, and the ACL rules
//! reference for how rules match):
//! - `GET /v1/agent/self` → `agent:read`:
//!   <https://developer.hashicorp.com/consul/api-docs/agent#read-configuration>
//! - `PUT /v1/agent/service/register` → `service:write`:
//!   <https://developer.hashicorp.com/consul/api-docs/agent/service#register-service>
//! - `PUT /v1/agent/check/register`, `PUT /v1/agent/check/update/:check_id` → `node:write` for a
//!   node check, `service:write` for a service's check:
//!   <https://developer.hashicorp.com/consul/api-docs/agent/check#register-check>
//! - `GET /v1/kv/:key` → `key:read`; `PUT /v1/kv/:key` → `key:write`:
//!   <https://developer.hashicorp.com/consul/api-docs/kv>
//! - `GET /v1/health/node/:node` → `node:read` (and `service:read` for service checks):
//!   <https://developer.hashicorp.com/consul/api-docs/health#list-checks-for-node>
//! - Rule matching: an exact rule (`key "a/b"`) wins over prefix rules (`key_prefix "a/"`), and
//!   among prefix rules the longest matching one wins:
//!   <https://developer.hashicorp.com/consul/docs/security/acl/acl-rules>

/// A permission: resource (`agent`, `node`, `service`, `key`), the name it applies to, and the
/// level (read < write).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub resource: &'static str,
    pub name: String,
    pub level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Deny,
    Read,
    Write,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::Write => "write",
        };
        write!(f, "{}:{level} on {:?}", self.resource, self.name)
    }
}

/// The permissions a call needs. `node` is the calling node's name; `services` the services it
/// registers (for `service/register`). `None`: the endpoint is not in the table.
pub fn needs_of(method: &str, path: &str, node: &str, services: &[String]) -> Option<Vec<Need>> {
    let path = path.split('?').next().unwrap_or(path);
    let need = |resource, name: &str, level| Need {
        resource,
        name: name.to_string(),
        level,
    };
    Some(match (method, path) {
        ("GET", "/v1/agent/self") => vec![need("agent", node, Level::Read)],
        ("PUT", "/v1/agent/service/register") => services
            .iter()
            .map(|s| need("service", s, Level::Write))
            .collect(),
        ("PUT", "/v1/agent/check/register") => vec![need("node", node, Level::Write)],
        ("PUT", p) if p.starts_with("/v1/agent/check/update/") => {
            match p["/v1/agent/check/update/".len()..].strip_prefix("service:") {
                Some(service) => vec![need("service", service, Level::Write)],
                None => vec![need("node", node, Level::Write)],
            }
        }
        ("GET", p) if p.starts_with("/v1/health/node/") => {
            vec![need("node", &p["/v1/health/node/".len()..], Level::Read)]
        }
        ("GET", p) if p.starts_with("/v1/kv/") => vec![need("key", &p[7..], Level::Read)],
        ("PUT" | "DELETE", p) if p.starts_with("/v1/kv/") => {
            vec![need("key", &p[7..], Level::Write)]
        }
        _ => return None,
    })
}

/// A Consul ACL policy's rules: `resource[_prefix] "name" { policy = "read|write|deny" }`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    resource: String,
    name: String,
    prefix: bool,
    level: Level,
}

impl Policy {
    pub fn parse(text: &str) -> Policy {
        static RULE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(
                r#"(?m)^\s*([a-z]+?)(_prefix)?\s+"([^"]*)"\s*\{\s*policy\s*=\s*"(read|write|deny)"\s*\}"#,
            )
            .expect("policy rule pattern")
        });
        Policy {
            rules: RULE
                .captures_iter(text)
                .map(|c| Rule {
                    resource: c[1].to_string(),
                    prefix: c.get(2).is_some(),
                    name: c[3].to_string(),
                    level: match &c[4] {
                        "write" => Level::Write,
                        "read" => Level::Read,
                        _ => Level::Deny,
                    },
                })
                .collect(),
        }
    }

    /// Whether the policy grants `need` (exact rule first, else the longest matching prefix).
    pub fn grants(&self, need: &Need) -> bool {
        let rules = || self.rules.iter().filter(|r| r.resource == need.resource);
        let exact = rules().find(|r| !r.prefix && r.name == need.name);
        let best = exact.or_else(|| {
            rules()
                .filter(|r| r.prefix && need.name.starts_with(&r.name))
                .max_by_key(|r| r.name.len())
        });
        best.is_some_and(|r| r.level >= need.level)
    }

    /// The rules: (resource, name, is a prefix rule, level).
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str, bool, Level)> {
        self.rules
            .iter()
            .map(|r| (r.resource.as_str(), r.name.as_str(), r.prefix, r.level))
    }

    /// Whether the policy grants write on some service (for `service/register` when the
    /// registered names are not known).
    pub fn writes_some_service(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.resource == "service" && r.level == Level::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_rules_win_then_the_longest_prefix() {
        let policy = Policy::parse(
            "agent_prefix \"\" { policy = \"read\" }\nkey_prefix \"k8s/\" { policy = \"read\" }\n\
             key \"k8s/c1/join\" { policy = \"write\" }\nkey_prefix \"k8s/c2/\" { policy = \"deny\" }",
        );
        let need = |path: &str, method| needs_of(method, path, "n1", &[]).unwrap()[0].clone();
        assert!(policy.grants(&need("/v1/agent/self", "GET")));
        assert!(policy.grants(&need("/v1/kv/k8s/c1/join", "PUT")));
        assert!(!policy.grants(&need("/v1/kv/k8s/c3/join", "PUT")));
        assert!(policy.grants(&need("/v1/kv/k8s/c3/join", "GET")));
        assert!(!policy.grants(&need("/v1/kv/k8s/c2/join", "GET")));
        assert!(!policy.grants(&need("/v1/agent/check/register", "PUT")));
        assert!(needs_of("POST", "/v1/acl/token", "n1", &[]).is_none());
    }
}
