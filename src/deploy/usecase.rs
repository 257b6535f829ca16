//! Use-case files (`deployments/<name>.toml`): which server gets which profile from which template,
//! with which custom attribute values. The format is documented in docs/deploy.md.
//!
//! Reading is two-staged: a file that is not TOML of the right shape is refused at once (nothing to
//! check against); everything else — a missing server, a secret whose variable is unset, … — becomes
//! a [`Problem`] so that it is reported together with the appliance-side checks.
use super::Problem;
use crate::appliance::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The environment variable the Consul ACL token is read from unless `token_env` says otherwise
/// (the name Consul's own CLI uses).
pub const DEFAULT_TOKEN_ENV: &str = "CONSUL_HTTP_TOKEN";
/// The Consul address when neither `consul.address` nor this variable is set: Consul's default.
pub const ADDRESS_ENV: &str = "CONSUL_HTTP_ADDR";

#[derive(Debug, Clone)]
pub struct UseCase {
    pub path: PathBuf,
    pub profile: String,
    pub template: Option<String>,
    pub deployment_plan: Option<String>,
    pub server: Server,
    /// In file order.
    pub attributes: Vec<Given>,
    pub consul: ConsulSection,
}

/// Which server: a bay of an enclosure (1-based, as OneView numbers them) or hardware by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    Bay {
        enclosure: String,
        bay: u32,
    },
    Hardware(String),
    /// Not usable; the problem was recorded.
    Invalid,
}

/// A value given for an attribute.
#[derive(Debug, Clone)]
pub struct Given {
    pub name: String,
    pub value: GivenValue,
    /// `attributes` or `secrets`: where it was written (for messages).
    pub table: &'static str,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub enum GivenValue {
    Text(String),
    /// A value from `[secrets]` (environment or file).
    Secret(Secret),
    /// A NIC attribute's fields (`connectionid`, `constraint`, `networkuri`, …).
    Nic(BTreeMap<String, String>),
}

#[derive(Debug, Clone)]
pub struct ConsulSection {
    /// Base URL of the Consul HTTP API.
    pub address: String,
    /// The node name, after `@NAME@` substitution from attribute values.
    pub node_template: String,
    pub token_env: String,
    /// The ACL token, read from the environment variable `token_env`.
    pub token: Option<Secret>,
    /// Trust only this CA (PEM) for an https Consul.
    pub ca_cert: Option<PathBuf>,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    profile: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    template: Option<Spanned<String>>,
    deployment_plan: Option<Spanned<String>>,
    server: Spanned<RawServer>,
    #[serde(default)]
    attributes: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
    consul: Spanned<RawConsul>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    enclosure: Option<String>,
    bay: Option<i64>,
    hardware: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<String>,
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsul {
    address: Option<String>,
    node: String,
    token_env: Option<String>,
    ca_cert: Option<PathBuf>,
}

/// Reads a use-case file. `Err`: the file cannot be used at all (unreadable, not TOML, wrong
/// shape). `Ok` carries the use case and the problems found in its values.
pub fn load(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> crate::Result<(UseCase, Vec<Problem>)> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
    let raw: Raw = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
        crate::Error::at(
            crate::error::Location::file(path).line(line),
            e.message().to_string(),
        )
    })?;
    let mut found = Findings {
        text: &text,
        problems: Vec::new(),
    };

    let profile = raw.profile.get_ref().trim().to_string();
    if profile.is_empty() {
        found.problem(
            "profile",
            found.line_of(raw.profile.span().start),
            "the profile name is empty".into(),
        );
    }
    // An empty name counts as not given.
    let name_of = |v: &Option<Spanned<String>>| {
        v.as_ref()
            .map(|s| s.get_ref().trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (template, deployment_plan) = (name_of(&raw.template), name_of(&raw.deployment_plan));
    if template.is_none() && deployment_plan.is_none() {
        found.problem("template", 1, "name a server profile template (`template = \"…\"`) or a deployment plan (`deployment_plan = \"…\"`)".into());
    }

    let server = read_server(raw.server, &mut found);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut attributes = read_attributes(&raw.attributes, &mut found);
    attributes.extend(read_secrets(
        &raw.secrets,
        &raw.attributes,
        base,
        env,
        &mut found,
    ));
    attributes.sort_by_key(|g| g.line);
    let consul = read_consul(raw.consul, base, env, &mut found);
    Ok((
        UseCase {
            path: path.to_path_buf(),
            profile,
            template,
            deployment_plan,
            server,
            attributes,
            consul,
        },
        found.problems,
    ))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The problems found in a use case's values, each on the line it is on.
struct Findings<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Findings<'_> {
    fn line_of(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }
    fn problem(&mut self, key: &str, line: usize, message: String) {
        self.problems.push(Problem::new(key, Some(line), message));
    }
}

/// `[server]`: an enclosure and bay, or a server hardware name.
fn read_server(raw: Spanned<RawServer>, found: &mut Findings) -> Server {
    let server_line = found.line_of(raw.span().start);
    match raw.into_inner() {
        RawServer {
            hardware: Some(name),
            enclosure: None,
            bay: None,
        } if !name.trim().is_empty() => Server::Hardware(name.trim().to_string()),
        RawServer {
            hardware: None,
            enclosure: Some(enclosure),
            bay: Some(bay),
        } if !enclosure.trim().is_empty() => match u32::try_from(bay) {
            Ok(bay) if bay >= 1 => Server::Bay {
                enclosure: enclosure.trim().to_string(),
                bay,
            },
            _ => {
                found.problem(
                    "server.bay",
                    server_line,
                    format!("bay {bay} is not a bay number (1, 2, …)"),
                );
                Server::Invalid
            }
        },
        _ => {
            found.problem(
                "server",
                server_line,
                "give `enclosure` and `bay`, or `hardware` (the server hardware name), not both"
                    .into(),
            );
            Server::Invalid
        }
    }
}

/// `[attributes]`: text values, or tables of NIC fields.
fn read_attributes(
    raw: &BTreeMap<String, Spanned<toml::Value>>,
    found: &mut Findings,
) -> Vec<Given> {
    let mut attributes = Vec::new();
    for (name, value) in raw {
        let line = found.line_of(value.span().start);
        let key = format!("attributes.{name}");
        let text_of = |v: &toml::Value| match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        };
        let given = match value.get_ref() {
            toml::Value::Table(fields) => {
                let mut nic = BTreeMap::new();
                for (field, v) in fields {
                    match text_of(v) {
                        Some(t) => {
                            nic.insert(field.clone(), t);
                        }
                        None => found.problem(
                            &format!("{key}.{field}"),
                            line,
                            "a NIC field takes a string or a number".into(),
                        ),
                    }
                }
                GivenValue::Nic(nic)
            }
            other => match text_of(other) {
                Some(t) => GivenValue::Text(t),
                None => {
                    found.problem(&key, line, "a value must be a string, a number or a boolean (or a table of NIC fields)".into());
                    continue;
                }
            },
        };
        attributes.push(Given {
            name: name.clone(),
            value: given,
            table: "attributes",
            line,
        });
    }
    attributes
}

/// `[secrets]`: each from an environment variable or a private file.
fn read_secrets(
    raw: &BTreeMap<String, Spanned<RawSecret>>,
    plain: &BTreeMap<String, Spanned<toml::Value>>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    found: &mut Findings,
) -> Vec<Given> {
    let mut attributes = Vec::new();
    for (name, secret) in raw {
        let line = found.line_of(secret.span().start);
        let key = format!("secrets.{name}");
        if plain.contains_key(name) {
            found.problem(
                &key,
                line,
                format!("{name} is given in [attributes] too; give it once"),
            );
            continue;
        }
        let value = match secret.get_ref() {
            RawSecret {
                env: Some(var),
                file: None,
            } => match env(var).filter(|v| !v.is_empty()) {
                Some(value) => value,
                None => {
                    found.problem(
                        &key,
                        line,
                        format!("the environment variable {var} is not set"),
                    );
                    continue;
                }
            },
            RawSecret {
                env: None,
                file: Some(file),
            } => {
                let file = if file.is_relative() {
                    base.join(file)
                } else {
                    file.clone()
                };
                match crate::appliance::secret::read_file(&file) {
                    Ok(value) => value,
                    Err(e) => {
                        found.problem(&key, line, e.to_string());
                        continue;
                    }
                }
            }
            _ => {
                found.problem(
                    &key,
                    line,
                    "give exactly one of `env = \"VARIABLE\"` or `file = \"PATH\"`".into(),
                );
                continue;
            }
        };
        attributes.push(Given {
            name: name.clone(),
            value: GivenValue::Secret(Secret::new(value)),
            table: "secrets",
            line,
        });
    }
    attributes
}

/// `[consul]`: where to read the node's first boot, as whom.
fn read_consul(
    raw: Spanned<RawConsul>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    found: &mut Findings,
) -> ConsulSection {
    let consul_line = found.line_of(raw.span().start);
    let raw_consul = raw.into_inner();
    let address = raw_consul
        .address
        .or_else(|| env(ADDRESS_ENV))
        .unwrap_or_else(|| "http://127.0.0.1:8500".into());
    let address = match crate::appliance::Endpoint::parse(&address) {
        // Consul speaks plain HTTP unless told otherwise, so a bare host means http here.
        Ok(_) if !address.contains("://") => {
            format!("http://{}", address.trim().trim_end_matches('/'))
        }
        Ok(endpoint) => endpoint.base,
        Err(e) => {
            found.problem("consul.address", consul_line, e.to_string());
            String::new()
        }
    };
    if raw_consul.node.trim().is_empty() {
        found.problem(
            "consul.node",
            consul_line,
            "the Consul node name is empty (e.g. \"@SERVER_FQDN@\")".into(),
        );
    }
    let token_env = raw_consul
        .token_env
        .unwrap_or_else(|| DEFAULT_TOKEN_ENV.into());
    let token = env(&token_env).filter(|t| !t.is_empty()).map(Secret::new);
    if token.is_none() {
        found.problem(
            "consul.token_env",
            consul_line,
            format!("the environment variable {token_env} (the Consul ACL token) is not set"),
        );
    }
    let ca_cert = raw_consul
        .ca_cert
        .map(|p| if p.is_relative() { base.join(p) } else { p });
    if let Some(path) = ca_cert.as_ref().filter(|p| !p.is_file()) {
        found.problem(
            "consul.ca_cert",
            consul_line,
            format!("{}: CA certificate file not found", path.display()),
        );
    }
    ConsulSection {
        address,
        node_template: raw_consul.node.trim().to_string(),
        token_env,
        token,
        ca_cert,
        line: consul_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_sample_file_reads_without_problems() {
        let copy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deployments/docker-03.toml");
        let (use_case, problems) = load(
            &copy,
            &env(&[
                ("DOCKER03_CONSUL_ACL_TOKEN", "t1"),
                ("CONSUL_GOSSIP_KEY", "a2V5LWZvci10ZXN0cw=="),
                ("CONSUL_HTTP_TOKEN", "t2"),
                ("CONSUL_HTTP_ADDR", "https://consul.example.org:8501"),
            ]),
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            use_case.server,
            Server::Bay {
                enclosure: "frame1".into(),
                bay: 3
            }
        );
        assert_eq!(use_case.template.as_deref(), Some("Docker CentOS 7.4"));
        assert_eq!(use_case.consul.address, "https://consul.example.org:8501");
        let secret = use_case
            .attributes
            .iter()
            .find(|g| g.name == "CONSUL_GOSSIP_KEY")
            .unwrap();
        assert!(
            matches!(&secret.value, GivenValue::Secret(s) if s.expose() == "a2V5LWZvci10ZXN0cw==")
        );
        let vlan = use_case
            .attributes
            .iter()
            .find(|g| g.name == "VLAN_ID")
            .unwrap();
        assert!(matches!(&vlan.value, GivenValue::Text(t) if t == "0"));
        // Without the variables: each named, with its line.
        let (_, problems) = load(&copy, &env(&[])).unwrap();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "secrets.CONSUL_ACL_TOKEN",
                "secrets.CONSUL_GOSSIP_KEY",
                "consul.token_env"
            ]
        );
        assert!(problems.iter().all(|p| p.line.is_some()));
    }

    #[test]
    fn shapes_and_secret_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(
            &path,
            "profile = \"\"\n[server]\nenclosure = \"f\"\nbay = 0\n[attributes]\nMGMT = { connectionid = 3, constraint = \"dhcp\" }\nLIST = [1]\n\
             [secrets]\nA = { file = \"token\" }\nB = { env = \"X\", file = \"token\" }\n[consul]\nnode = \"n\"\naddress = \"consul:8500\"\n",
        )
        .unwrap();
        let (use_case, problems) = load(&path, &env(&[("CONSUL_HTTP_TOKEN", "t")])).unwrap();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        #[cfg(unix)]
        assert_eq!(
            keys,
            [
                "profile",
                "template",
                "server.bay",
                "attributes.LIST",
                "secrets.A",
                "secrets.B"
            ]
        );
        assert!(!problems.iter().any(|p| p.message.contains("s3cr3t")));
        let nic = use_case
            .attributes
            .iter()
            .find(|g| g.name == "MGMT")
            .unwrap();
        assert!(
            matches!(&nic.value, GivenValue::Nic(f) if f["connectionid"] == "3" && f["constraint"] == "dhcp")
        );
        assert_eq!(use_case.consul.address, "http://consul:8500");
        // Not TOML / unknown keys: refused outright, naming the line.
        std::fs::write(&path, "profile = \"p\"\ntemplate = \"t\"\n[server]\nhardware = \"h\"\ncolour = 1\n[consul]\nnode = \"n\"\n").unwrap();
        let error = load(&path, &env(&[])).unwrap_err().to_string();
        assert!(
            error.contains("u.toml") && error.contains(":5") && error.contains("colour"),
            "{error}"
        );
    }
}
