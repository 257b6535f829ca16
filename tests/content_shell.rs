//! Shell quality of everything the plan scripts upload: every bash script passes shellcheck at
//! severity warning once its placeholders hold typed sample values, and every systemd unit is
//! well formed and wired to files and units the same build plan writes.
use crate::content_support;
use content_support::*;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// Units systemd itself provides that our units may name.
const STANDARD_UNITS: [&str; 6] = [
    "multi-user.target",
    "network-online.target",
    "network.target",
    "timers.target",
    "default.target",
    "sshd.service",
];

#[test]
fn every_uploaded_bash_script_passes_shellcheck() {
    if !common_require_shellcheck() {
        return;
    }
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    for plan in our_plans() {
        for (name, content) in &plan.steps {
            let script = parse_script(content).unwrap_or_else(|e| panic!("{name}: {e}"));
            for up in bash_uploads(&script) {
                let text = substitute_samples(&up.content);
                if !checked.insert(text.clone()) {
                    continue;
                }
                let mut child = Command::new("shellcheck")
                    .args(["-s", "bash", "-S", "warning", "-f", "gcc", "-"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                if !out.status.success() {
                    problems.push(format!(
                        "{name}: {}:\n{}",
                        up.path,
                        String::from_utf8_lossy(&out.stdout)
                    ));
                }
            }
        }
    }
    assert!(
        checked.len() >= 12,
        "expected the first-boot scripts of every capability, checked {}",
        checked.len()
    );
    assert!(
        problems.is_empty(),
        "shellcheck found problems:\n{}",
        problems.join("\n")
    );
}

fn common_require_shellcheck() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v shellcheck"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "shellcheck is required under CI but is not installed (.ci/install-test-deps installs it)"
            );
        }
        eprintln!("\n*** SKIPPED: shellcheck is not installed; install it to run this test ***\n");
    }
    found
}

/// The unit-structure rules for one build plan; returns every violation.
fn unit_problems(plan: &Plan) -> Vec<String> {
    let tree = plan.tree();
    let units = units(&tree);
    let mut problems = Vec::new();
    let known = |name: &str| units.contains_key(name) || STANDARD_UNITS.contains(&name);
    for (name, text) in &units {
        let sections: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
        let has = |s: &str| sections.contains(&s);
        if !has("[Unit]") {
            problems.push(format!("{name}: no [Unit] section"));
        }
        if unit_values(text, "Description").is_empty() {
            problems.push(format!("{name}: no Description="));
        }
        if name.ends_with(".service") {
            if !has("[Service]") {
                problems.push(format!("{name}: no [Service] section"));
            }
            let exec = unit_values(text, "ExecStart");
            match exec.first() {
                None => problems.push(format!("{name}: no ExecStart=")),
                Some(path) => match tree.files.get(path) {
                    None => problems.push(format!(
                        "{name}: ExecStart={path} is not a file the plan writes"
                    )),
                    Some((_, mode)) if mode & 0o111 == 0 => problems.push(format!(
                        "{name}: ExecStart={path} is not made executable (mode {mode:o})"
                    )),
                    _ => {}
                },
            }
        }
        if name.ends_with(".timer") {
            if !has("[Timer]") {
                problems.push(format!("{name}: no [Timer] section"));
            }
            let service = name.replace(".timer", ".service");
            if !units.contains_key(&service) {
                problems.push(format!(
                    "{name}: its service {service} is not written by the plan"
                ));
            }
        }
        for key in [
            "After",
            "Before",
            "Requires",
            "Wants",
            "WantedBy",
            "OnFailure",
        ] {
            for other in unit_values(text, key) {
                if !known(&other) {
                    problems.push(format!(
                        "{name}: {key}={other} names a unit neither the plan nor systemd provides"
                    ));
                }
            }
        }
        // Linked into a .wants directory: its [Install] section must say so, and vice versa.
        let linked: Vec<String> = tree
            .links
            .iter()
            .filter(|(link, target)| {
                link.contains(".wants/") && target.ends_with(&format!("/{name}"))
            })
            .map(|(link, _)| {
                link.rsplit('/')
                    .nth(1)
                    .unwrap()
                    .trim_end_matches(".wants")
                    .to_string()
            })
            .collect();
        let wanted_by = unit_values(text, "WantedBy");
        if !wanted_by.is_empty() && !has("[Install]") {
            problems.push(format!("{name}: WantedBy= outside an [Install] section"));
        }
        for target in &wanted_by {
            if !linked.contains(target) {
                problems.push(format!(
                    "{name}: WantedBy={target} but the plan does not link it into {target}.wants"
                ));
            }
        }
        for target in &linked {
            if !wanted_by.contains(target) {
                problems.push(format!(
                    "{name}: linked into {target}.wants without WantedBy={target}"
                ));
            }
        }
    }
    for (link, target) in &tree.links {
        if link.contains(".wants/") && link.rsplit('/').next() != target.rsplit('/').next() {
            problems.push(format!(
                "{link} is not named like the unit {target} it points at"
            ));
        }
        if link.contains(".wants/") && !tree.files.contains_key(target) {
            problems.push(format!(
                "{link} points at {target}, which the plan does not write"
            ));
        }
    }
    problems
}

#[test]
fn every_uploaded_unit_is_well_formed_and_wired_within_its_plan() {
    let plans = our_plans();
    let mut problems = Vec::new();
    let mut unit_count = 0;
    for plan in plans.iter().filter(|p| p.kind == "deploy") {
        unit_count += units(&plan.tree()).len();
        problems.extend(
            unit_problems(plan)
                .into_iter()
                .map(|p| format!("{}: {p}", plan.label())),
        );
    }
    assert!(
        unit_count > 50,
        "expected the units of every deploy plan, found {unit_count}"
    );
    assert!(
        problems.is_empty(),
        "unit problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unit_rules_reject_the_reference_worker_and_a_broken_exec_start() {
    // The reference K8s worker links k8s-minion-install.service to k8s-worker-install.service.
    let reference = reference_plan(REF_CENTOS, "K8s_Worker");
    let problems = unit_problems(&reference);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("k8s-minion-install.service is not named like")),
        "{problems:?}"
    );

    // A unit whose script is never made executable is caught.
    let mut plan = our_plans()
        .into_iter()
        .find(|p| p.kind == "deploy")
        .unwrap();
    for (_, content) in plan.steps.iter_mut() {
        *content = content.replace("chmod 0755 /usr/local/bin/network-bond.sh", "");
    }
    let problems = unit_problems(&plan);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("network-bond.sh is not made executable")),
        "{problems:?}"
    );
}

#[test]
fn every_plan_script_parses_as_guestfish_with_lf_only() {
    for plan in our_plans() {
        for (name, content) in &plan.steps {
            parse_script(content).unwrap_or_else(|e| panic!("{}: {name}: {e}", plan.label()));
            // A bash line "END" inside an upload would end the here-document early.
            for up in parse_script(content).unwrap().uploads {
                assert!(
                    !up.content.lines().any(|l| l == "END"),
                    "{name}: {} holds a bare END line",
                    up.path
                );
            }
        }
    }
}
