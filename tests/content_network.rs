//! The rendered network-bond.sh, run for real with bash against a fake /sys/class/net: it writes
//! the ifcfg files of an active-backup bond with DHCP or static addressing, on bond0 or on a
//! bond0.<VLAN_ID> sub-interface, and restarts the network service.
mod content_support;
use content_support::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn bond_script(plan_suffix: &str) -> String {
    let plan = our_plans()
        .into_iter()
        .find(|p| p.name.ends_with(plan_suffix))
        .unwrap();
    let step = &plan
        .steps
        .iter()
        .find(|(n, _)| n.contains("NIC bonding"))
        .unwrap()
        .1;
    parse_script(step)
        .unwrap()
        .uploads
        .into_iter()
        .find(|u| u.path == "/usr/local/bin/network-bond.sh")
        .unwrap()
        .content
}

/// Runs the script with VLAN_ID substituted; returns the files it wrote and the systemctl calls.
fn run_bond(script: &str, vlan: &str, nics: &[&str]) -> (BTreeMap<String, String>, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    // Physical NICs have a `device` link; lo, the iSCSI boot NIC and virtual ones are skipped.
    for nic in nics.iter().chain(["lo", "ibft0", "docker0"].iter()) {
        std::fs::create_dir_all(sys.join(nic)).unwrap();
        if !["lo", "docker0"].contains(nic) {
            std::fs::write(sys.join(nic).join("device"), "").unwrap();
        }
    }
    let log = dir.path().join("systemctl.log");
    let stub = write(
        dir.path(),
        "systemctl",
        &format!("#!/bin/sh\necho \"systemctl $*\" >>{}\n", log.display()),
    );
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = substitute_samples(script).replace("VLAN_ID='120'", &format!("VLAN_ID='{vlan}'"));
    let script_path = write(dir.path(), "network-bond.sh", &text);
    let out = Command::new("bash")
        .arg(&script_path)
        .env("CONF_DIR", &conf)
        .env("SYS_NET", &sys)
        .env("RESOLV_CONF", dir.path().join("resolv.conf"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .unwrap();
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&conf).unwrap() {
        let path = entry.unwrap().path();
        files.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read_to_string(&path).unwrap(),
        );
    }
    if Path::new(&dir.path().join("resolv.conf")).exists() {
        files.insert(
            "resolv.conf".into(),
            std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
        );
    }
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (files, calls, out.status.success())
}

fn has_line(file: &str, line: &str) -> bool {
    file.lines().any(|l| l == line)
}

#[test]
fn dhcp_bond_untagged_and_tagged() {
    let script = bond_script("Docker CE");
    let (files, calls, ok) = run_bond(&script, "0", &["ens3f0", "ens3f1"]);
    assert!(ok);
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        ["ifcfg-bond0", "ifcfg-ens3f0", "ifcfg-ens3f1"]
    );
    let bond = &files["ifcfg-bond0"];
    for line in [
        "TYPE=Bond",
        "BONDING_MASTER=yes",
        "BONDING_OPTS=\"mode=active-backup miimon=100\"",
        "ONBOOT=yes",
        "BOOTPROTO=dhcp",
    ] {
        assert!(has_line(bond, line), "bond0 lacks {line}:\n{bond}");
    }
    for nic in ["ens3f0", "ens3f1"] {
        let slave = &files[&format!("ifcfg-{nic}")];
        assert!(
            has_line(slave, "MASTER=bond0")
                && has_line(slave, "SLAVE=yes")
                && has_line(slave, &format!("DEVICE={nic}")),
            "{slave}"
        );
    }
    assert_eq!(calls, "systemctl restart network\n");

    let (files, _, ok) = run_bond(&script, "120", &["ens3f0", "ens3f1"]);
    assert!(ok);
    assert!(
        has_line(&files["ifcfg-bond0"], "BOOTPROTO=none"),
        "{}",
        files["ifcfg-bond0"]
    );
    let vlan = &files["ifcfg-bond0.120"];
    for line in [
        "DEVICE=bond0.120",
        "VLAN=yes",
        "PHYSDEV=bond0",
        "BOOTPROTO=dhcp",
    ] {
        assert!(has_line(vlan, line), "bond0.120 lacks {line}:\n{vlan}");
    }
}

#[test]
fn static_bond_addresses_the_vlan_interface_and_writes_resolv_conf() {
    // The compute node's bond (the all-in-one's is untagged: see the test below).
    let script = bond_script("OpenStack compute");
    let (files, _, ok) = run_bond(&script, "120", &["ens3f0", "ens3f1"]);
    assert!(ok);
    let vlan = &files["ifcfg-bond0.120"];
    for line in [
        "BOOTPROTO=none",
        "IPADDR=10.0.0.21",
        "NETMASK=255.255.255.0",
        "GATEWAY=10.0.0.1",
    ] {
        assert!(has_line(vlan, line), "bond0.120 lacks {line}:\n{vlan}");
    }
    assert!(
        !files["ifcfg-bond0"].contains("IPADDR"),
        "the address belongs on the VLAN interface"
    );
    assert_eq!(
        files["resolv.conf"],
        "nameserver 10.0.0.2\nnameserver 10.0.0.3\n"
    );

    let (files, _, ok) = run_bond(&script, "0", &["ens3f0", "ens3f1"]);
    assert!(ok);
    assert!(
        has_line(&files["ifcfg-bond0"], "IPADDR=10.0.0.21"),
        "{}",
        files["ifcfg-bond0"]
    );
    assert!(!files.contains_key("ifcfg-bond0.0"));
}

#[test]
fn bond_refuses_anything_but_two_data_nics() {
    let script = bond_script("Docker CE");
    let (files, calls, ok) = run_bond(&script, "0", &["ens3f0"]);
    assert!(
        !ok && files.is_empty() && calls.is_empty(),
        "one NIC must fail without writing anything"
    );
    let (_, _, ok) = run_bond(&script, "0", &["ens3f0", "ens3f1", "ens3f2"]);
    assert!(!ok, "three NICs must fail");
}

#[test]
fn all_in_one_bond_is_untagged_whatever_the_vlan() {
    // br-ex takes bond0 as its port, so the address stays on bond0 itself.
    let script = bond_script("OpenStack all-in-one");
    assert!(
        !script.contains("@VLAN_ID"),
        "the all-in-one bond still reads VLAN_ID"
    );
    let (files, _, ok) = run_bond(&script, "120", &["ens3f0", "ens3f1"]);
    assert!(ok);
    assert!(
        has_line(&files["ifcfg-bond0"], "IPADDR=10.0.0.21"),
        "{}",
        files["ifcfg-bond0"]
    );
    assert!(
        !files.keys().any(|f| f.starts_with("ifcfg-bond0.")),
        "{files:?}"
    );
}
