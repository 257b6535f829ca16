//! Capability rules (I3S110–I3S113): each build plan against the contracts of the capabilities
//! its steps render (`{#- contract -#}` in the templates, see `source::contract`) and the
//! security posture of its OS's golden image (`[posture]` of the OS profile).
//!
//! - I3S110: a port a capability listens on is not opened on a firewalled image (neither by the
//!   image's posture nor by a `firewall-cmd --add-port` / `open_ports` line of the plan).
//! - I3S111: a container bind mount without an SELinux label option (`:z`/`:Z`) on an enforcing
//!   image: the container cannot write the host directory (Docker's `-v` docs; container-selinux).
//! - I3S112: a capture plan that does not remove a secret path that a deploy plan of the same
//!   bundle (so the same OS) writes: every golden image captured from a node would carry it.
//! - I3S113: a Consul endpoint a deploy plan calls that its role's shipped ACL policy
//!   (`templates/consul-policies/<plan>.hcl`) does not grant (`lint::consul` knows what each
//!   endpoint needs).
//!
//! They need what only sources know, so they run on `lint` of a project, not of a zip.
use super::consul::{self, Policy};
use super::target::{ScriptView, SourceFacts, Target};
use super::{ArtifactKind, Sink};
use crate::bundle::BuildPlan;
use crate::guestfish::commands;
use crate::source::contract::{Contract, PortRange};
use crate::source::profile::{Firewall, SelinuxMode};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub fn check(target: &Target, sink: &mut Sink) {
    let Some(facts) = &target.sources else {
        return;
    };
    for (index, plan) in target.bundle.build_plans.iter().enumerate() {
        let steps = steps_with_contracts(target, facts, plan);
        let checked = Checked {
            target,
            facts,
            index,
            plan,
            steps: &steps,
        };
        if plan.is_capture() {
            capture_removes_secrets(&checked, sink);
            continue;
        }
        ports_are_opened(&checked, sink);
        bind_mounts_are_labelled(&checked, sink);
        consul_calls_are_granted(&checked, sink);
    }
}

/// The build plan a rule looks at, with what the sources know about it.
struct Checked<'c, 't, 'a> {
    target: &'c Target<'a>,
    facts: &'c SourceFacts,
    /// Index in `bundle.build_plans` (for the finding's place).
    index: usize,
    plan: &'c BuildPlan,
    steps: &'c [Step<'t, 'a>],
}

/// A step's script view with its capability's contract and the template declaring it.
type Step<'t, 'a> = (&'t ScriptView<'a>, &'t Contract, Option<&'t Path>);

fn steps_with_contracts<'t, 'a>(
    target: &'t Target<'a>,
    facts: &'t SourceFacts,
    plan: &BuildPlan,
) -> Vec<Step<'t, 'a>> {
    static EMPTY: LazyLock<Contract> = LazyLock::new(Contract::default);
    target
        .steps(plan)
        .into_iter()
        .flatten()
        .map(|view| {
            let index = target
                .scripts
                .iter()
                .position(|v| std::ptr::eq(v, view))
                .unwrap_or(usize::MAX);
            match facts.contracts.get(index) {
                Some((contract, file)) => (view, contract, file.as_deref()),
                None => (view, &*EMPTY, None),
            }
        })
        .collect()
}

/// A finding about build plan `index` as a whole (it points at the plan's declaration).
fn plan_finding(sink: &mut Sink, rule: &str, target: &Target, index: usize, message: String) {
    let plan = &target.bundle.build_plans[index];
    sink.at_artifact(
        rule,
        ArtifactKind::BuildPlan,
        &plan.name,
        &target.build_plan_origin(index),
        message,
    );
}

fn declared_by(file: Option<&Path>) -> String {
    file.map(|f| format!(" (declared by {})", f.display()))
        .unwrap_or_default()
}

// ---- I3S110

static ADD_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"--add-port[= ]([0-9]+(?:-[0-9]+)?/(?:tcp|udp))").expect("add-port pattern")
});
static OPEN_PORTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*open_ports\s+(.+)$").expect("open_ports pattern"));

/// Ports a script opens: `firewall-cmd`/`firewall-offline-cmd … --add-port=P/proto` and calls of
/// the `open_ports P/proto…` helper (`templates/_lib/sh.j2`).
fn opened_ports(content: &str) -> Vec<PortRange> {
    let mut ports: Vec<PortRange> = ADD_PORT
        .captures_iter(content)
        .filter_map(|c| PortRange::parse(&c[1]))
        .collect();
    for call in OPEN_PORTS.captures_iter(content) {
        ports.extend(
            call[1]
                .split_whitespace()
                .filter_map(|w| PortRange::parse(w.trim_matches(['"', '\'']))),
        );
    }
    ports
}

fn ports_are_opened(checked: &Checked, sink: &mut Sink) {
    let Checked {
        target,
        facts,
        index,
        plan,
        steps,
    } = *checked;
    let Some(posture) = &facts.posture else {
        return;
    };
    if posture.firewall == Firewall::None {
        return;
    }
    let mut opened: Vec<PortRange> = posture
        .open
        .iter()
        .filter_map(|p| PortRange::parse(p))
        .collect();
    for (view, _, _) in steps {
        opened.extend(opened_ports(&view.script.content));
    }
    let os = facts.os.as_deref().unwrap_or("the OS");
    for (_, contract, file) in steps {
        for port in contract.ports.iter().filter_map(|p| PortRange::parse(p)) {
            if opened.iter().any(|o| port.within(o)) {
                continue;
            }
            plan_finding(
                sink,
                "I3S110",
                target,
                index,
                format!(
                    "build plan {:?}: {port}{} is not opened on the {os} image's firewall, so nothing can reach it",
                    plan.name,
                    declared_by(*file)
                ),
            );
        }
    }
}

// ---- I3S111

static CONTAINER_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:docker|podman)\s+(?:container\s+)?(?:run|create)\b").expect("run pattern")
});

/// Host-path bind mounts (`-v /src:/dst[:opts]`, `--volume[=]…`) of a container command line
/// without `z`/`Z` among their options.
fn unlabelled_bind_mounts(command_line: &str) -> Vec<String> {
    let words: Vec<&str> = command_line.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let spec = match *word {
            "-v" | "--volume" => words.get(i + 1).copied(),
            w => w.strip_prefix("--volume="),
        };
        let Some(spec) = spec.map(|s| s.trim_matches(['"', '\''])) else {
            continue;
        };
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() < 2 || !parts[0].starts_with('/') {
            continue; // a named volume: Docker labels those itself
        }
        let labelled = parts
            .get(2)
            .is_some_and(|opts| opts.split(',').any(|o| o == "z" || o == "Z"));
        if !labelled {
            found.push(spec.to_string());
        }
    }
    found
}

fn bind_mounts_are_labelled(checked: &Checked, sink: &mut Sink) {
    let Checked { facts, steps, .. } = *checked;
    if facts
        .posture
        .as_ref()
        .is_none_or(|p| p.selinux != SelinuxMode::Enforcing)
    {
        return;
    }
    let os = facts.os.as_deref().unwrap_or("the OS");
    for (view, _, _) in steps {
        for (line, logical) in logical_lines(&view.script.content) {
            if !CONTAINER_RUN.is_match(&logical) {
                continue;
            }
            for mount in unlabelled_bind_mounts(&logical) {
                sink.at_script(
                    "I3S111",
                    view,
                    line,
                    None,
                    format!(
                        "plan script {:?}: bind mount `{mount}` has no SELinux label option on the {os} image, which enforces SELinux: the container cannot use it",
                        view.script.name
                    ),
                );
            }
        }
    }
}

/// Lines joined over trailing backslashes, each with its first line number.
fn logical_lines(content: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (i, line) in content.split('\n').enumerate() {
        let (text, continues) = match line.trim_end().strip_suffix('\\') {
            Some(stripped) => (stripped, true),
            None => (line, false),
        };
        match out.last_mut() {
            Some(last) if open => {
                last.1.push(' ');
                last.1.push_str(text);
            }
            _ => out.push((i + 1, text.to_string())),
        }
        open = continues;
    }
    out
}

// ---- I3S112

/// What a capture plan removes: the path argument of `rm`, `rm-f`, `rm-rf`, `rmdir` (also under
/// `glob`, where a trailing `*` matches anything below).
fn removed_paths(steps: &[Step]) -> Vec<String> {
    let mut removed = Vec::new();
    for (view, _, _) in steps {
        for command in &view.parsed.commands {
            let (name, args) = commands::unprefix(&command.name, &command.args);
            if matches!(name, "rm" | "rm-f" | "rm-rf" | "rmdir")
                && let Some(path) = args.first()
            {
                removed.push(path.clone());
            }
        }
    }
    removed
}

fn covers(removed: &str, secret: &str) -> bool {
    let removed = removed.trim_end_matches('/');
    match removed.strip_suffix('*') {
        Some(prefix) => secret.starts_with(prefix),
        None => secret == removed || secret.starts_with(&format!("{removed}/")),
    }
}

fn capture_removes_secrets(checked: &Checked, sink: &mut Sink) {
    let Checked {
        target,
        facts,
        index,
        plan,
        steps,
    } = *checked;
    let removed = removed_paths(steps);
    let mut reported = std::collections::BTreeSet::new();
    for deploy in target.bundle.build_plans.iter().filter(|p| !p.is_capture()) {
        for (_, contract, file) in steps_with_contracts(target, facts, deploy) {
            for secret in &contract.secret_paths {
                if removed.iter().any(|r| covers(r, secret)) || !reported.insert(secret.clone()) {
                    continue;
                }
                plan_finding(
                    sink,
                    "I3S112",
                    target,
                    index,
                    format!(
                        "capture plan {:?} does not remove {secret}, which deploy plan {:?} writes{}: every golden image captured from such a node would carry it",
                        plan.name,
                        deploy.name,
                        declared_by(file)
                    ),
                );
            }
        }
    }
}

// ---- I3S113

/// The role policy file of a build plan: `<consul-policies>/<slug of the name's last part>.hcl`
/// ("… - Kubernetes worker" → `kubernetes-worker.hcl`).
pub fn policy_file(dir: &Path, plan_name: &str) -> PathBuf {
    let short = plan_name.rsplit(" - ").next().unwrap_or(plan_name);
    let slug: String = short
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    dir.join(format!("{slug}.hcl"))
}

static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([A-Za-z0-9_]+)>|:[a-z_]+").expect("variable pattern"));

/// An endpoint path with `<NAME>` replaced by the plan's default for attribute NAME (else a
/// stand-in) and `:param` by a stand-in.
fn concrete(path: &str, plan: &BuildPlan) -> String {
    VARIABLE
        .replace_all(path, |c: &regex::Captures| {
            c.get(1)
                .and_then(|name| {
                    plan.custom_attributes
                        .iter()
                        .find(|a| a.name == name.as_str())
                        .and_then(|a| a.default_value())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "node01".to_string())
        })
        .into_owned()
}

fn consul_calls_are_granted(checked: &Checked, sink: &mut Sink) {
    let Checked {
        target,
        facts,
        index,
        plan,
        steps,
    } = *checked;
    let calls: Vec<(&String, Option<&Path>)> = steps
        .iter()
        .flat_map(|(_, c, file)| c.consul_endpoints.iter().map(move |e| (e, *file)))
        .collect();
    if calls.is_empty() {
        return;
    }
    let path = policy_file(&facts.consul_policies, &plan.name);
    let origin = target.build_plan_origin(index);
    let mut report = |message: String| {
        sink.at_artifact(
            "I3S113",
            ArtifactKind::BuildPlan,
            &plan.name,
            &origin,
            message,
        )
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        report(format!(
            "build plan {:?} calls Consul ({}) but ships no ACL policy {}: its token's rights are unknown",
            plan.name,
            calls[0].0,
            path.display()
        ));
        return;
    };
    let policy = Policy::parse(&text);
    for (endpoint, file) in calls {
        let (method, raw) = endpoint.split_once(' ').unwrap_or(("GET", endpoint));
        let raw = raw.trim();
        if raw == "/v1/agent/service/register" {
            if !policy.writes_some_service() {
                report(format!(
                    "build plan {:?}: {endpoint}{} needs service:write, which {} grants on no service",
                    plan.name,
                    declared_by(file),
                    path.display()
                ));
            }
            continue;
        }
        let Some(needs) = consul::needs_of(method, &concrete(raw, plan), "node01", &[]) else {
            report(format!(
                "build plan {:?}: {endpoint}{} is not in the table of Consul endpoints lint knows; check the ACL it needs in Consul's API docs",
                plan.name,
                declared_by(file)
            ));
            continue;
        };
        for need in needs.iter().filter(|n| !policy.grants(n)) {
            report(format!(
                "build plan {:?}: {endpoint}{} needs {need}, which {} does not grant: the call gets 403",
                plan.name,
                declared_by(file),
                path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opened_ports_from_firewall_cmd_and_open_ports() {
        let ports = opened_ports(
            "firewall-cmd --permanent --add-port=8301/tcp\nopen_ports 10250/tcp \"30000-32767/tcp\"\n# open_ports in a comment\n",
        );
        let shown: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["8301/tcp", "10250/tcp", "30000-32767/tcp"]);
    }

    #[test]
    fn bind_mounts_need_a_label_option() {
        assert_eq!(
            unlabelled_bind_mounts(
                "docker run -d -v /var/lib/consul:/consul/data --volume=/etc/x:/x:ro -v data:/d -v /a:/b:ro,Z"
            ),
            ["/var/lib/consul:/consul/data", "/etc/x:/x:ro"]
        );
        let joined = logical_lines("docker run \\\n  -v /a:/b \\\n  img\necho");
        assert_eq!(joined[0].0, 1);
        assert!(joined[0].1.contains("-v /a:/b") && joined[1].1 == "echo");
    }

    #[test]
    fn removal_covers_the_path_and_below() {
        assert!(covers("/etc/consul.d", "/etc/consul.d/secrets.json"));
        assert!(covers("/root/kubeadm-*", "/root/kubeadm-init.log"));
        assert!(!covers("/etc/consul", "/etc/consul.d"));
    }

    #[test]
    fn policy_files_are_named_after_the_plan() {
        assert_eq!(
            policy_file(
                Path::new("p"),
                "i3s-bundle - CentOS 7.4 - Kubernetes worker"
            ),
            Path::new("p/kubernetes-worker.hcl")
        );
    }
}
