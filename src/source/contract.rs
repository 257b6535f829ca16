//! Capability contracts: what a capability template needs from the node and leaves on it.
//! (Part of the template source; `render` carries it to the build, `lint` checks plans with it.)
//!
//! A template may carry, after its front matter, a second comment block (rendered to nothing):
//! ```text
//! {#- contract
//! ports = ["8301/tcp", "8301/udp"]            # what it listens on: a firewalled image must open them
//! secret_paths = ["/etc/consul.d"]            # what it writes that holds secrets: capture removes them
//! consul_endpoints = ["GET /v1/agent/self"]   # Consul HTTP calls: the role's ACL policy must grant them
//! boot_skip = { "network-bond.service" = "needs the server's NICs" }  # units a container cannot run
//! -#}
//! ```
//! `lint` checks build plans against these (I3S110–I3S113) and the tests check the content, so a
//! user's own capability gets the same protection as ours by declaring its contract.
//! `run --boot` masks the `boot_skip` units in its container and reports them "not exercised".
use crate::error::{Error, Location, Result, line_column};
use std::collections::BTreeMap;
use std::path::Path;

const OPEN: &str = "{#- contract";

/// A capability's declared contract (all lists may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// `PORT/PROTO` or `FIRST-LAST/PROTO` the capability listens on.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Absolute paths (files or directories) it writes that hold secrets.
    #[serde(default)]
    pub secret_paths: Vec<String>,
    /// `METHOD /v1/...` Consul HTTP endpoints its scripts call (`:name` and `<NAME>` stand for
    /// variable parts).
    #[serde(default)]
    pub consul_endpoints: Vec<String>,
    /// Units (`name.service`, `.timer`, …) that cannot run in a container (`run --boot`): they
    /// need the server's NICs, multipath disks, a hypervisor. Unit name → why. The boot masks them
    /// and reports them "not exercised: <why>", never as passed.
    #[serde(default)]
    pub boot_skip: BTreeMap<String, String>,
}

impl Contract {
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
            && self.secret_paths.is_empty()
            && self.consul_endpoints.is_empty()
            && self.boot_skip.is_empty()
    }
}

/// Suffixes of the unit types `boot_skip` may name (systemd.unit(5), "Description").
const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".slice",
    ".scope",
];

/// Whether `name` is a plain unit name: `prefix.suffix` with a known suffix, made of the
/// characters systemd.unit(5) allows ("ASCII letters, digits, ':', '-', '_', '.', and '\'", `@`
/// for templates) minus `\` (escapes): safe to put on a command line unquoted.
pub fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '@'))
}

/// A port range with its protocol, parsed from `8301/tcp` or `2379-2380/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
    pub udp: bool,
}

impl PortRange {
    pub fn parse(text: &str) -> Option<PortRange> {
        let (ports, proto) = text.trim().split_once('/')?;
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            _ => return None,
        };
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let p = ports.parse().ok()?;
                (p, p)
            }
        };
        (first <= last && first > 0).then_some(PortRange { first, last, udp })
    }
    /// Whether `self` lies inside `other`.
    pub fn within(&self, other: &PortRange) -> bool {
        self.udp == other.udp && self.first >= other.first && self.last <= other.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = if self.udp { "udp" } else { "tcp" };
        if self.first == self.last {
            write!(f, "{}/{proto}", self.first)
        } else {
            write!(f, "{}-{}/{proto}", self.first, self.last)
        }
    }
}

/// The contract block of a template's text, if it has one; errors name the file and line.
pub fn parse_contract(path: &Path, text: &str) -> Result<Option<Contract>> {
    let Some(start) = text.find(OPEN) else {
        return Ok(None);
    };
    let body_start = start + OPEN.len();
    let line = line_column(text, start).0;
    let Some(len) = text[body_start..].find("#}") else {
        return Err(Error::at(
            Location::file(path).line(line),
            "the contract block is never closed: end it with `-#}`",
        ));
    };
    let body = text[body_start..body_start + len].trim_end_matches('-');
    let contract: Contract = toml::from_str(body).map_err(|e| {
        let mut location = Location::file(path).line(line);
        if let Some(span) = e.span() {
            let (l, c) = line_column(text, body_start + span.start);
            location = location.at(l, c);
        }
        Error::at(location, format!("contract: {}", e.message())).with_help(
            "a contract lists `ports` (\"8301/tcp\"), `secret_paths` (absolute), `consul_endpoints` (\"GET /v1/agent/self\") and `boot_skip` ({ \"x.service\" = \"why\" })",
        )
    })?;
    for port in &contract.ports {
        if PortRange::parse(port).is_none() {
            return Err(Error::at(
                Location::file(path).line(line),
                format!("contract: port {port:?} is not PORT/tcp, PORT/udp or FIRST-LAST/PROTO"),
            ));
        }
    }
    for secret in &contract.secret_paths {
        if !secret.starts_with('/') {
            return Err(Error::at(
                Location::file(path).line(line),
                format!("contract: secret path {secret:?} must be absolute"),
            ));
        }
    }
    for endpoint in &contract.consul_endpoints {
        let ok = endpoint.split_once(' ').is_some_and(|(m, p)| {
            matches!(m, "GET" | "PUT" | "POST" | "DELETE") && p.starts_with("/v1/")
        });
        if !ok {
            return Err(Error::at(
                Location::file(path).line(line),
                format!("contract: Consul endpoint {endpoint:?} is not `METHOD /v1/...`"),
            ));
        }
    }
    for (unit, why) in &contract.boot_skip {
        if !is_unit_name(unit) {
            return Err(Error::at(
                Location::file(path).line(line),
                format!(
                    "contract: boot_skip {unit:?} is not a unit name (e.g. \"network-bond.service\")"
                ),
            ));
        }
        if why.trim().is_empty() {
            return Err(Error::at(
                Location::file(path).line(line),
                format!("contract: boot_skip {unit:?} needs a reason (what the container lacks)"),
            ));
        }
    }
    Ok(Some(contract))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_block_after_the_front_matter() {
        let text = "{#-\nname = \"x\"\nplan_type = \"deploy\"\n-#}\n{#- contract\n# why\nports = [\"8301/tcp\", \"2379-2380/tcp\"]\nsecret_paths = [\"/etc/x\"]\n-#}\nbody";
        let c = parse_contract(Path::new("t.j2"), text).unwrap().unwrap();
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.secret_paths, ["/etc/x"]);
        assert!(c.consul_endpoints.is_empty() && c.boot_skip.is_empty());
        let text = "{#- contract\nboot_skip = { \"network-bond.service\" = \"needs the server's NICs\" }\n-#}";
        let c = parse_contract(Path::new("t.j2"), text).unwrap().unwrap();
        assert_eq!(
            c.boot_skip["network-bond.service"],
            "needs the server's NICs"
        );
        assert!(!c.is_empty());
        assert!(
            parse_contract(Path::new("t.j2"), "{#- x -#}\nbody")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_contracts_are_located_errors() {
        for (text, needle) in [
            (
                "\n{#- contract\nports = [\"http\"]\n-#}",
                "t.j2:2: contract: port \"http\"",
            ),
            (
                "{#- contract\nsecret_paths = [\"etc/x\"]\n-#}",
                "must be absolute",
            ),
            (
                "{#- contract\nconsul_endpoints = [\"/v1/x\"]\n-#}",
                "METHOD /v1/",
            ),
            ("{#- contract\nport = []\n-#}", "t.j2:2"),
            ("{#- contract\nports = []", "never closed"),
            (
                "{#- contract\nboot_skip = { \"bond\" = \"needs NICs\" }\n-#}",
                "boot_skip \"bond\" is not a unit name",
            ),
            (
                "{#- contract\nboot_skip = { \"bond.service\" = \" \" }\n-#}",
                "needs a reason",
            ),
            (
                "{#- contract\nboot_skip = { \"a';x'.service\" = \"why\" }\n-#}",
                "is not a unit name",
            ),
        ] {
            let err = parse_contract(Path::new("t.j2"), text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{needle:?} in {err}");
        }
    }

    #[test]
    fn port_ranges() {
        let r = PortRange::parse("2379-2380/tcp").unwrap();
        assert!(PortRange::parse("2380/tcp").unwrap().within(&r));
        assert!(!PortRange::parse("2380/udp").unwrap().within(&r));
        assert_eq!(r.to_string(), "2379-2380/tcp");
        assert!(PortRange::parse("0/tcp").is_none() && PortRange::parse("9/sctp").is_none());
    }
}
