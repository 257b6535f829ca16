//! What Consul's ACL system requires of the HTTP endpoints plan scripts call, and whether a
//! policy (HCL rules) grants it. The one place that knows it: lint rule I3S113 and the content
//! tests check the shipped policies with it, the simulator's Consul stand-in enforces it.
//!
//! Sources (Consul's HTTP API documentation, "ACL Required" of each endpoint, Consul's agent
//! source where the docs list two permissions, and the ACL rules reference for how rules match):
//! - `GET /v1/agent/self` → `agent:read` on the agent's node name:
//!   <https://developer.hashicorp.com/consul/api-docs/agent#read-configuration>
//! - `PUT /v1/agent/service/register` → `service:write` on the service's name (and on the name of
//!   a service it replaces); `PUT /v1/agent/service/deregister/:service_id` → `service:write` on
//!   the registered service's name:
//!   <https://developer.hashicorp.com/consul/api-docs/agent/service#register-service>
//! - `PUT /v1/agent/check/register`, `…/check/deregister/:check_id`, and the TTL updates
//!   `…/check/update/:check_id`, `…/check/pass|warn|fail/:check_id` → "node:write,service:write":
//!   `service:write` on the service the check belongs to, `node:write` on the agent's node for a
//!   node check (hashicorp/consul `agent/acl.go`, `vetCheckRegisterWithAuthorizer` and
//!   `vetCheckUpdateWithAuthorizer`):
//!   <https://developer.hashicorp.com/consul/api-docs/agent/check#register-check>
//! - `GET /v1/kv/:key` → `key:read`; `PUT`/`DELETE /v1/kv/:key` → `key:write`:
//!   <https://developer.hashicorp.com/consul/api-docs/kv>
//! - `GET /v1/health/node/:node` → `node:read` (and `service:read` for service checks); Consul
//!   does not refuse this read but leaves out the checks the token may not read:
//!   <https://developer.hashicorp.com/consul/api-docs/health#list-checks-for-node>
//! - Rule matching: an exact rule (`key "a/b"`) wins over prefix rules (`key_prefix "a/"`), and
//!   among prefix rules the longest matching one wins; nothing matching means the default policy
//!   (deny on our agents):
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

impl Level {
    /// As Consul spells it in rules and in its "lacks permission" messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::Write => "write",
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} on {:?}",
            self.resource,
            self.level.as_str(),
            self.name
        )
    }
}

/// What an agent knows about the object of a check or service call (the check's service, the
/// registered service's name). Lint does not know it: [`needs_of`] reads it from the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Not known: a check ID `service:<name>` (as our templates name service checks) belongs to
    /// service `<name>`, any other to the node; a service ID is taken for the service's name.
    FromId,
    /// A node check.
    Node,
    /// A check of, or the registration of, the service with this name.
    Service(&'a str),
}

/// The permissions a call needs. `node` is the calling agent's node name; `services` the
/// services it registers (for `service/register`). `None`: the endpoint is not in the table.
pub fn needs_of(method: &str, path: &str, node: &str, services: &[String]) -> Option<Vec<Need>> {
    needs_with(method, path, node, services, Owner::FromId)
}

/// [`needs_of`] for an agent that knows which service a check or service ID belongs to.
pub fn needs_with(
    method: &str,
    path: &str,
    node: &str,
    services: &[String],
    owner: Owner<'_>,
) -> Option<Vec<Need>> {
    let path = path.split('?').next().unwrap_or(path);
    let need = |resource, name: &str, level| Need {
        resource,
        name: name.to_string(),
        level,
    };
    let node_or_service = |id: &str| match owner {
        Owner::Service(service) => need("service", service, Level::Write),
        Owner::Node => need("node", node, Level::Write),
        Owner::FromId => match id.strip_prefix("service:") {
            Some(service) => need("service", service, Level::Write),
            None => need("node", node, Level::Write),
        },
    };
    Some(match (method, path) {
        ("GET", "/v1/agent/self") => vec![need("agent", node, Level::Read)],
        ("PUT", "/v1/agent/service/register") => services
            .iter()
            .map(|s| need("service", s, Level::Write))
            .collect(),
        ("PUT", p) if p.starts_with("/v1/agent/service/deregister/") => {
            let id = &p["/v1/agent/service/deregister/".len()..];
            let name = match owner {
                Owner::Service(name) => name,
                _ => id,
            };
            vec![need("service", name, Level::Write)]
        }
        ("PUT", "/v1/agent/check/register") => vec![node_or_service("")],
        ("PUT", p) if check_id(p).is_some() => vec![node_or_service(check_id(p)?.1)],
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

/// The check endpoints that act on an existing check: (`update`, `pass`, `warn`, `fail` or
/// `deregister`, the check ID).
pub fn check_id(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1/agent/check/")?;
    let (verb, id) = rest.split_once('/')?;
    matches!(verb, "update" | "pass" | "warn" | "fail" | "deregister")
        .then_some((verb, id))
        .filter(|(_, id)| !id.is_empty())
}

/// Whether Consul answers a call the token may not make by leaving out what it may not read
/// (200, filtered) rather than refusing it (403): the health reads.
pub fn filters(method: &str, path: &str) -> bool {
    method == "GET" && path.starts_with("/v1/health/")
}

/// What reading one health check needs: `node:read` on its node, or `service:read` on its
/// service (the filter of [`filters`] endpoints).
pub fn check_read_need(node: &str, service: Option<&str>) -> Need {
    match service.filter(|s| !s.is_empty()) {
        Some(service) => Need {
            resource: "service",
            name: service.to_string(),
            level: Level::Read,
        },
        None => Need {
            resource: "node",
            name: node.to_string(),
            level: Level::Read,
        },
    }
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

    #[test]
    fn a_check_call_needs_write_on_the_service_it_belongs_to_else_on_the_node() {
        let write = |resource, name: &str| Need {
            resource,
            name: name.into(),
            level: Level::Write,
        };
        for verb in ["update", "pass", "warn", "fail", "deregister"] {
            let path = format!("/v1/agent/check/{verb}/service:web?note=x");
            assert_eq!(
                needs_of("PUT", &path, "n1", &[]),
                Some(vec![write("service", "web")])
            );
            let path = format!("/v1/agent/check/{verb}/first-boot");
            assert_eq!(
                needs_of("PUT", &path, "n1", &[]),
                Some(vec![write("node", "n1")])
            );
            // The agent knows better than the ID: a check "mem" of service "db".
            let path = format!("/v1/agent/check/{verb}/mem");
            assert_eq!(
                needs_with("PUT", &path, "n1", &[], Owner::Service("db")),
                Some(vec![write("service", "db")])
            );
        }
        assert_eq!(
            needs_with(
                "PUT",
                "/v1/agent/check/register",
                "n1",
                &[],
                Owner::Service("db")
            ),
            Some(vec![write("service", "db")])
        );
        assert_eq!(check_id("/v1/agent/check/update/"), None);
        assert_eq!(check_id("/v1/agent/check/register"), None);
    }
}
