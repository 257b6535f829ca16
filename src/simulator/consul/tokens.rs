//! The stand-in's ACL tokens: which secret maps to which policy, how a request presents its
//! token, and Consul's 403 answers. What each endpoint requires and how rules match is
//! [`crate::consul::acl`]'s; this file only resolves the caller.
//!
//! Consul's behaviour, followed here:
//! - The token comes from `?token=`, else the `X-Consul-Token` header, else `Authorization:
//!   Bearer <token>` (hashicorp/consul `agent/http.go`, `parseTokenInternal`;
//!   <https://developer.hashicorp.com/consul/api-docs/api-structure#authentication>).
//! - No token: the anonymous token (AccessorID `00000000-0000-0000-0000-000000000002`), which has
//!   no policy here, so the default policy (deny) decides:
//!   <https://developer.hashicorp.com/consul/docs/security/acl/tokens#anonymous-token>.
//! - A token Consul does not know: 403 `ACL not found`; a known token lacking a permission: 403
//!   `Permission denied: token with AccessorID '<id>' lacks permission '<resource>:<level>' on
//!   "<name>"`, as plain text (hashicorp/consul `acl/errors.go`, `PermissionDeniedError`, written
//!   by `agent/http.go`'s error handler with status 403).
use crate::consul::acl::{Need, Policy};
use crate::error::{Error, Location};
use std::path::Path;

/// The anonymous token's AccessorID, fixed by Consul.
pub const ANONYMOUS_ACCESSOR: &str = "00000000-0000-0000-0000-000000000002";

/// What a token may do.
#[derive(Debug, Clone)]
pub enum Access {
    /// Consul's `global-management` policy: everything.
    Management,
    Policy(Policy),
}

#[derive(Debug, Clone)]
struct Token {
    secret: String,
    accessor: String,
    access: Access,
}

/// The tokens the stand-in knows (secrets stay in memory; they are never printed).
#[derive(Debug, Clone, Default)]
pub struct AclTokens {
    tokens: Vec<Token>,
}

/// Who is calling: a known token or the anonymous one.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    pub accessor: &'a str,
    pub access: Option<&'a Access>,
    /// A token was presented and known.
    pub known: bool,
}

impl AclTokens {
    /// One management token (what `deploy` reads with when no policies are given).
    pub fn management(secret: &str) -> AclTokens {
        let mut tokens = AclTokens::default();
        tokens.add(secret, Access::Management);
        tokens
    }

    /// Adds a token; its AccessorID is made up from its position (stable across runs).
    pub fn add(&mut self, secret: &str, access: Access) {
        let accessor = format!("5a5a0000-0000-4000-8000-{:012}", self.tokens.len() + 1);
        self.tokens.retain(|t| t.secret != secret);
        self.tokens.push(Token {
            secret: secret.to_string(),
            accessor,
            access,
        });
    }

    /// Reads `file`: one token a line, `POLICY SECRET`, where POLICY names `DIR/POLICY.hcl`
    /// (`policies`) or is `global-management`; `#` starts a comment line.
    pub fn load(&mut self, file: &Path, policies: Option<&Path>) -> crate::Result<()> {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        for (number, line) in text.lines().enumerate() {
            let at = || Location::file(file).line(number + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(policy), Some(secret), None) = (words.next(), words.next(), words.next())
            else {
                return Err(Error::at(at(), "expected `POLICY TOKEN` (two words)")
                    .with_help("POLICY is the name of a .hcl file in --consul-policies, or global-management"));
            };
            let access = if policy == "global-management" {
                Access::Management
            } else {
                // The first word is echoed nowhere: a line written TOKEN POLICY would leak it.
                let Some(dir) = policies else {
                    return Err(Error::at(at(), "the policy names no policy directory")
                        .with_help("pass --consul-policies DIR (e.g. templates/consul-policies)"));
                };
                let path = dir.join(format!("{policy}.hcl"));
                match std::fs::read_to_string(&path) {
                    Ok(rules) => Access::Policy(Policy::parse(&rules)),
                    Err(_) => {
                        return Err(Error::at(
                            at(),
                            format!(
                                "the policy (first word) is not a .hcl file in {}",
                                dir.display()
                            ),
                        )
                        .with_help(format!("policies there: {}", policy_names(dir))));
                    }
                }
            };
            self.add(secret, access);
        }
        Ok(())
    }

    /// The caller of a request presenting `token` (`None` or empty: anonymous); `None`: Consul
    /// does not know the token (`ACL not found`).
    pub fn resolve(&self, token: Option<&str>) -> Option<Caller<'_>> {
        match token.filter(|t| !t.is_empty()) {
            None => Some(Caller {
                accessor: ANONYMOUS_ACCESSOR,
                access: None,
                known: false,
            }),
            Some(secret) => self
                .tokens
                .iter()
                .find(|t| t.secret == secret)
                .map(|t| Caller {
                    accessor: &t.accessor,
                    access: Some(&t.access),
                    known: true,
                }),
        }
    }
}

/// The policies of a directory (`NAME.hcl` → NAME), for messages.
fn policy_names(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".hcl").map(str::to_string)
        })
        .collect();
    names.sort();
    match names.is_empty() {
        true => "none".into(),
        false => names.join(", "),
    }
}

impl Caller<'_> {
    pub fn may(&self, need: &Need) -> bool {
        match self.access {
            Some(Access::Management) => true,
            Some(Access::Policy(policy)) => policy.grants(need),
            None => false,
        }
    }

    /// The first of `needs` the caller lacks, as Consul's 403 body.
    pub fn refusal(&self, needs: &[Need]) -> Option<String> {
        let need = needs.iter().find(|n| !self.may(n))?;
        Some(format!(
            "Permission denied: token with AccessorID '{}' lacks permission '{}:{}' on \"{}\"",
            self.accessor,
            need.resource,
            need.level.as_str(),
            need.name
        ))
    }
}

/// The token a request presents, the way Consul looks for it.
pub fn presented(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    let from_query = crate::simulator::http::query_pairs(query)
        .into_iter()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|v| !v.is_empty())
    };
    let bearer = || {
        let value = header("Authorization")?;
        let (scheme, rest) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    from_query
        .or_else(|| header("X-Consul-Token"))
        .or_else(bearer)
}
