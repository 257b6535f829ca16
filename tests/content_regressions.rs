//! One test per defect the 2018-06-09 reference bundles shipped (docs/reference-bundles.md §3, §8).
//! Each check is a function applied twice: to the repository's bundles (must pass) and to the
//! reference behaviour (must fail), so every test demonstrably would have caught the bug.
use crate::content_support;
use content_support::*;

use std::collections::BTreeSet;
use std::process::Command;

/// Asserts a check passes on all of ours and fails on the given reference case.
fn passes_ours_fails_reference(
    ours: Vec<(String, Result<(), String>)>,
    reference: Result<(), String>,
) {
    let failures: Vec<String> = ours
        .into_iter()
        .filter_map(|(label, r)| r.err().map(|e| format!("{label}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "our content fails the check:\n{}",
        failures.join("\n")
    );
    let err = reference.expect_err("the check must fail on the reference behaviour");
    eprintln!("reference behaviour rejected as expected: {err}");
}

// --- 1. mount first, umount last --------------------------------------------------------------

fn mounts_first_unmounts_last(plan: &Plan) -> Result<(), String> {
    let first = parse_script(plan.steps.first().ok_or("no steps")?.1.as_str())?;
    let last = parse_script(plan.steps.last().ok_or("no steps")?.1.as_str())?;
    let has = |s: &Script, verb: &str| {
        s.commands
            .iter()
            .any(|c| c.words.first().is_some_and(|w| w == verb))
    };
    if !has(&first, "mount") || has(&first, "umount") {
        return Err(format!("first step {:?} does not mount", plan.steps[0].0));
    }
    if !has(&last, "umount") || has(&last, "mount") {
        return Err(format!(
            "last step {:?} does not unmount",
            plan.steps.last().unwrap().0
        ));
    }
    for (name, content) in &plan.steps[1..plan.steps.len() - 1] {
        let s = parse_script(content)?;
        if has(&s, "mount") || has(&s, "umount") {
            return Err(format!("middle step {name:?} mounts or unmounts"));
        }
    }
    Ok(())
}

#[test]
fn every_plan_mounts_first_and_unmounts_last() {
    passes_ours_fails_reference(
        our_plans()
            .iter()
            .map(|p| (p.label(), mounts_first_unmounts_last(p)))
            .collect(),
        mounts_first_unmounts_last(&reference_plan(REF_CENTOS, "Docker_CentOS7.4")),
    );
}

// --- 2. declared attributes = placeholders used -----------------------------------------------

fn declared_equals_used(plan: &Plan) -> Result<(), String> {
    let declared: BTreeSet<String> = plan.declared.iter().cloned().collect();
    let used: BTreeSet<String> = plan
        .contents()
        .iter()
        .flat_map(|c| i3s_bundle::placeholder::used_names(c).into_keys())
        .collect();
    let missing: Vec<_> = used.difference(&declared).collect();
    let unused: Vec<_> = declared.difference(&used).collect();
    if missing.is_empty() && unused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "used but not declared {missing:?}, declared but unused {unused:?}"
        ))
    }
}

#[test]
fn declared_attributes_equal_the_placeholders_used() {
    let ours: Vec<_> = our_plans()
        .iter()
        .map(|p| (p.label(), declared_equals_used(p)))
        .collect();
    // CONSUL_FQDN missing from the Docker CentOS plan.
    let docker = declared_equals_used(&reference_plan(REF_CENTOS, "Docker_CentOS7.4"));
    assert!(
        docker.as_ref().is_err_and(|e| e.contains("CONSUL_FQDN")),
        "{docker:?}"
    );
    // The static-IP set missing from the OpenStack all-in-one plan.
    let aio = declared_equals_used(&reference_plan(REF_CENTOS, "all-in-one"));
    assert!(
        aio.as_ref()
            .is_err_and(|e| e.contains("SERVER_IP") && e.contains("DNS_IP")),
        "{aio:?}"
    );
    // Fedora Docker has the same gap.
    passes_ours_fails_reference(
        ours,
        declared_equals_used(&reference_plan(REF_FEDORA, "Docker_Fedora27")),
    );
}

// --- 3. descriptions agree with the addressing the steps use -----------------------------------

fn description_matches_addressing(plan: &Plan) -> Result<(), String> {
    let text = plan.contents().join("\n");
    // ifcfg files, or NetworkManager keyfiles ([ipv4] method=auto / method=manual).
    // ifcfg, NetworkManager keyfile and systemd-networkd forms of each addressing.
    let dhcp = text.contains("BOOTPROTO=dhcp")
        || text.contains("\"method=auto\"")
        || text.contains("\"DHCP=ipv4\"");
    let is_static = text.contains("IPADDR=")
        || text.contains("\"method=manual\"")
        || text.contains("\"Address=$SERVER_IP/$PREFIX\"");
    let says_dhcp = plan.description.contains("DHCP");
    let says_static = plan.description.to_lowercase().contains("static");
    if says_dhcp && (!dhcp || is_static) {
        return Err(format!(
            "description says DHCP but the bond is {}",
            if is_static { "static" } else { "absent" }
        ));
    }
    if says_static && (!is_static || dhcp) {
        return Err("description says static but the bond uses DHCP".into());
    }
    if plan.kind == "deploy" && !says_dhcp && !says_static {
        return Err("a deploy plan's description must say how the bond is addressed".into());
    }
    Ok(())
}

#[test]
fn descriptions_agree_with_dhcp_or_static_bonding() {
    passes_ours_fails_reference(
        our_plans()
            .iter()
            .map(|p| (p.label(), description_matches_addressing(p)))
            .collect(),
        description_matches_addressing(&reference_plan(REF_CENTOS, "Docker_CentOS7.4")),
    );
}

// --- 4. the /root/.DAS.consumed contract ----------------------------------------------------

/// Every unit that requires the DAS ledger runs after (After=) a unit of the same plan that
/// creates it.
fn das_ledger_contract(plan: &Plan) -> Result<(), String> {
    const LEDGER: &str = "/root/.DAS.consumed";
    let tree = plan.tree();
    let units = units(&tree);
    let script_of = |unit: &str| -> String {
        let exec = unit_values(&units[unit], "ExecStart");
        let path = exec
            .first()
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default();
        tree.files
            .get(&path)
            .map(|f| {
                f.0.replace("$DAS_LEDGER", LEDGER)
                    .replace("\"/root", "/root")
            })
            .unwrap_or_default()
    };
    let writes = |s: &str| {
        [
            ">/root/.DAS.consumed",
            ">> /root/.DAS.consumed",
            ">>/root/.DAS.consumed",
        ]
        .iter()
        .any(|w| s.contains(w))
    };
    let requires = |s: &str| s.contains(&format!("-f {LEDGER}"));
    let services: Vec<&String> = units.keys().filter(|u| u.ends_with(".service")).collect();
    for consumer in services.iter().filter(|u| requires(&script_of(u))) {
        let after = unit_values(&units[consumer.as_str()], "After");
        let ok = services
            .iter()
            .filter(|p| *p != consumer && writes(&script_of(p)) && !requires(&script_of(p)))
            .any(|producer| after.contains(producer));
        if !ok {
            return Err(format!(
                "{consumer} needs {LEDGER} but no unit ordered before it creates it"
            ));
        }
    }
    Ok(())
}

#[test]
fn das_ledger_exists_before_every_consumer_whichever_docker_ran() {
    let ours = our_plans();
    // The contract is exercised: OpenStack plans (distro Docker) and Docker CE plans consume it.
    let consumers = ours
        .iter()
        .filter(|p| {
            p.contents()
                .iter()
                .any(|c| c.contains("das_require_ledger"))
        })
        .count();
    assert!(
        consumers >= 4,
        "expected the Docker CE and OpenStack plans to consume the ledger, found {consumers}"
    );
    let aio = das_ledger_contract(&reference_plan(REF_CENTOS, "all-in-one"));
    assert!(
        aio.is_err(),
        "the reference OpenStack all-in-one plan must break the contract"
    );
    passes_ours_fails_reference(
        ours.iter()
            .map(|p| (p.label(), das_ledger_contract(p)))
            .collect(),
        das_ledger_contract(&reference_plan(REF_CENTOS, "OpenStack_compute")),
    );
}

// --- 5. no nested upload here-document --------------------------------------------------------

fn no_nested_upload(content: &str) -> Result<(), String> {
    let script = parse_script(content)?;
    for up in &script.uploads {
        if let Some(line) = up
            .content
            .lines()
            .find(|l| l.trim_start().starts_with("upload -<<"))
        {
            return Err(format!(
                "the upload to {} (line {}) contains another upload: {line:?}",
                up.path, up.line
            ));
        }
    }
    Ok(())
}

#[test]
fn no_upload_contains_a_nested_upload() {
    let (reference, _) = reference(REF_CENTOS);
    passes_ours_fails_reference(
        our_plans()
            .iter()
            .flat_map(|p| {
                p.steps
                    .iter()
                    .map(|(n, c)| (n.clone(), no_nested_upload(c)))
                    .collect::<Vec<_>>()
            })
            .collect(),
        no_nested_upload(&reference["2018-03-15-HudsonAlpha_NICbond_static_systemd"]),
    );
}

// --- 6. the kubelet cgroup-driver sed runs under GNU sed ---------------------------------------

const KUBEADM_110_DROPIN: &str = "[Service]\n\
Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
Environment=\"KUBELET_CGROUP_ARGS=--cgroup-driver=cgroupfs\"\n\
ExecStart=\n\
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CGROUP_ARGS\n";

fn uploaded(plan_content: &str, path: &str) -> String {
    parse_script(plan_content)
        .unwrap()
        .uploads
        .into_iter()
        .find(|u| u.path == path)
        .unwrap_or_else(|| panic!("no upload to {path}"))
        .content
}

fn step<'a>(plan: &'a Plan, name_part: &str) -> &'a str {
    plan.steps
        .iter()
        .find(|(n, _)| n.contains(name_part))
        .unwrap_or_else(|| panic!("{}: no step {name_part}", plan.label()))
        .1
        .as_str()
}

fn our_plan(name: &str) -> Plan {
    our_plans()
        .into_iter()
        .find(|p| p.name.ends_with(name))
        .unwrap_or_else(|| panic!("no plan {name}"))
}

#[test]
fn kubelet_cgroup_driver_sed_works_with_gnu_sed() {
    let dir = tempfile::tempdir().unwrap();
    for plan_name in ["Kubernetes master", "Kubernetes worker"] {
        let plan = our_plan(plan_name);
        let unit = if plan_name.ends_with("master") {
            "k8s-master-install"
        } else {
            "k8s-worker-install"
        };
        let script = uploaded(
            step(&plan, "Kubernetes"),
            &format!("/usr/local/bin/{unit}.sh"),
        );
        let function = bash_function(&script, "set_kubelet_cgroup_driver")
            .expect("set_kubelet_cgroup_driver in the script");
        let cases = [
            (
                "dropin.conf",
                KUBEADM_110_DROPIN.to_string(),
                "Environment=\"KUBELET_CGROUP_ARGS=--cgroup-driver=systemd\"",
            ),
            (
                "sysconfig-empty-args",
                "KUBELET_EXTRA_ARGS=\n".to_string(),
                "KUBELET_EXTRA_ARGS=\"--cgroup-driver=systemd\"",
            ),
            (
                "sysconfig-args",
                "KUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.5\"\n".to_string(),
                "KUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.5 --cgroup-driver=systemd\"",
            ),
            (
                "sysconfig-missing",
                String::new(),
                "KUBELET_EXTRA_ARGS=\"--cgroup-driver=systemd\"",
            ),
        ];
        for (file, before, expected_line) in cases {
            let path = write(dir.path(), file, &before);
            let out = run(Command::new("bash").arg("-c").arg(format!(
                "set -euo pipefail\n{function}\nset_kubelet_cgroup_driver systemd {}",
                path.display()
            )));
            assert!(
                out.status.success(),
                "{plan_name} {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let after = std::fs::read_to_string(&path).unwrap();
            assert!(
                after.lines().any(|l| l == expected_line),
                "{plan_name} {file}: got\n{after}"
            );
            assert!(
                !after.contains("cgroupfs"),
                "{plan_name} {file}: cgroupfs left in\n{after}"
            );
        }
    }

    // The reference: the same substitution written with a literal newline in the expression.
    let (reference, _) = reference(REF_CENTOS);
    let master = &reference["2018-06-04-HudsonAlpha_K8s_master_systemd"];
    let start = master
        .find("sed -i 's#Environment=\"KUBELET_KUBECONFIG_ARGS")
        .expect("reference sed");
    let end = master[start..].find("10-kubeadm.conf").unwrap() + start + "10-kubeadm.conf".len();
    let sample = write(dir.path(), "10-kubeadm.conf", KUBEADM_110_DROPIN);
    let command = master[start..end].replace(
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        sample.to_str().unwrap(),
    );
    let out = run(Command::new("bash").arg("-c").arg(&command));
    assert!(
        !out.status.success(),
        "GNU sed accepted the reference expression"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unterminated `s' command"),
        "unexpected sed error: {stderr}"
    );
}

// --- 7. /etc/hostname holds the bare name -------------------------------------------------------

fn hostname_file_is_bare(content: &str) -> Result<(), String> {
    let hostname = uploaded(content, "/etc/hostname");
    let value = substitute_samples(&hostname);
    if value == "node01.example.org\n" {
        Ok(())
    } else {
        Err(format!("/etc/hostname would hold {value:?}"))
    }
}

#[test]
fn etc_hostname_holds_the_bare_fqdn() {
    let (reference, _) = reference(REF_CENTOS);
    passes_ours_fails_reference(
        our_plans()
            .iter()
            .filter(|p| p.kind == "deploy")
            .map(|p| (p.label(), hostname_file_is_bare(step(p, "Host name"))))
            .collect(),
        hostname_file_is_bare(&reference["2018-03-15-HudsonAlpha_config_hostname_root_ssh"]),
    );
}

// --- 8. sshd is reloaded after its settings change ----------------------------------------------

/// A script that edits sshd_config must validate and reload sshd afterwards.
fn reloads_sshd_after_editing(script: &str) -> Result<(), String> {
    let lines: Vec<&str> = script.lines().collect();
    let edit = lines.iter().rposition(|l| {
        l.contains("sed -i") && (l.contains("sshd_config") || l.contains("\"$file\""))
    });
    let edit = edit.ok_or("the script does not edit sshd_config")?;
    let reload = lines.iter().rposition(|l| {
        let l = l.trim();
        l.starts_with("systemctl reload sshd") || l.starts_with("systemctl restart sshd")
    });
    match reload {
        Some(r) if r > edit => Ok(()),
        _ => Err("sshd_config is changed but sshd is never reloaded".into()),
    }
}

#[test]
fn sshd_is_validated_and_reloaded_after_hardening() {
    let plan = our_plan("Docker CE");
    let script = uploaded(step(&plan, "Host name"), "/usr/local/bin/root_ssh_setup.sh");

    // Run the real functions on a sample sshd_config with sshd and systemctl stubbed (they log).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    for tool in ["sshd", "systemctl"] {
        let stub = write(
            dir.path(),
            tool,
            &format!("#!/bin/sh\necho \"{tool} $*\" >>{}\n", log.display()),
        );
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let config = write(
        dir.path(),
        "sshd_config",
        "#PermitRootLogin yes\n#PasswordAuthentication yes\nPasswordAuthentication yes\nChallengeResponseAuthentication yes\nUsePAM yes\n",
    );
    let functions = format!(
        "{}\n{}",
        bash_function(&script, "sshd_set").expect("sshd_set"),
        bash_function(&script, "harden_sshd").expect("harden_sshd")
    );
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail\n{functions}\nharden_sshd {}",
            config.display()
        ))
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap()
            ),
        ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(&config).unwrap();
    let first = |key: &str| {
        after
            .lines()
            .find(|l| l.trim_start_matches('#').starts_with(key))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        first("PasswordAuthentication"),
        "PasswordAuthentication no",
        "{after}"
    );
    assert_eq!(
        first("ChallengeResponseAuthentication"),
        "ChallengeResponseAuthentication no",
        "{after}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        format!("sshd -t -f {}\nsystemctl reload sshd\n", config.display())
    );

    let (reference, _) = reference(REF_CENTOS);
    let reference_script = uploaded(
        &reference["2018-03-15-HudsonAlpha_config_hostname_root_ssh"],
        "/usr/local/bin/root_ssh_setup.sh",
    );
    passes_ours_fails_reference(
        vec![(
            "root_ssh_setup.sh".into(),
            reloads_sshd_after_editing(&script),
        )],
        reloads_sshd_after_editing(&reference_script),
    );
}

// --- 9. .wants links are named like the unit they point at --------------------------------------

fn wants_links_match_units(plan: &Plan) -> Result<(), String> {
    let tree = plan.tree();
    for (link, target) in &tree.links {
        if !link.contains(".wants/") {
            continue;
        }
        let (link_name, target_name) = (
            link.rsplit('/').next().unwrap(),
            target.rsplit('/').next().unwrap(),
        );
        if link_name != target_name {
            return Err(format!(
                "{link} is named {link_name} but points at {target_name}"
            ));
        }
        if !tree.files.contains_key(target) {
            return Err(format!(
                "{link} points at {target}, which the plan does not write"
            ));
        }
    }
    Ok(())
}

#[test]
fn wants_links_are_named_after_their_units() {
    passes_ours_fails_reference(
        our_plans()
            .iter()
            .map(|p| (p.label(), wants_links_match_units(p)))
            .collect(),
        wants_links_match_units(&reference_plan(REF_CENTOS, "K8s_Worker")),
    );
}
