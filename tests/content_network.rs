//! The rendered network-bond.sh, run for real with bash against a fake /sys/class/net: it writes
//! the ifcfg files of an active-backup bond with DHCP or static addressing, on bond0 or on a
//! bond0.<VLAN_ID> sub-interface, and restarts the network service.
use crate::content_support;
use content_support::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// network-bond.sh of the CentOS 7.4 plan ending with `plan_suffix` (ifcfg files).
fn bond_script(plan_suffix: &str) -> String {
    bond_script_of("centos7.4", plan_suffix)
}

fn bond_script_of(bundle: &str, plan_suffix: &str) -> String {
    let plan = our_plans()
        .into_iter()
        .find(|p| p.bundle == bundle && p.name.ends_with(plan_suffix))
        .unwrap();
    bond_script_in(&plan).unwrap()
}

/// The network-bond.sh a plan's NIC bonding step uploads (None: the plan bonds no NICs).
fn bond_script_in(plan: &Plan) -> Option<String> {
    let step = &plan
        .steps
        .iter()
        .find(|(n, _)| n.contains("NIC bonding"))?
        .1;
    let script = parse_script(step)
        .unwrap()
        .uploads
        .into_iter()
        .find(|u| u.path == "/usr/local/bin/network-bond.sh")
        .unwrap()
        .content;
    Some(script)
}

/// Runs the script with VLAN_ID substituted; returns the files it wrote and the systemctl calls.
fn run_bond(script: &str, vlan: &str, nics: &[&str]) -> (BTreeMap<String, String>, String, bool) {
    let run = run_bond_full(script, vlan, nics);
    (run.files, run.calls, run.ok)
}

/// What one run of network-bond.sh left: files (and their modes) in CONF_DIR plus resolv.conf,
/// the systemctl and nmcli calls, and whether it succeeded.
struct BondRun {
    files: BTreeMap<String, String>,
    modes: BTreeMap<String, u32>,
    calls: String,
    ok: bool,
}

fn run_bond_full(script: &str, vlan: &str, nics: &[&str]) -> BondRun {
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
    for tool in ["systemctl", "nmcli"] {
        let stub = write(
            dir.path(),
            tool,
            &format!("#!/bin/sh\necho \"{tool} $*\" >>{}\n", log.display()),
        );
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
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
    let mut modes = BTreeMap::new();
    for entry in std::fs::read_dir(&conf).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        modes.insert(name.clone(), mode & 0o7777);
        files.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    if Path::new(&dir.path().join("resolv.conf")).exists() {
        files.insert(
            "resolv.conf".into(),
            std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
        );
    }
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    BondRun {
        files,
        modes,
        calls,
        ok: out.status.success(),
    }
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

/// network-bond.sh rendered for the CentOS Stream 10 profile (`network_stack =
/// "networkmanager"`) with the given addressing (the bundle's plan uses DHCP only).
fn nm_bond_script(addressing: &str) -> String {
    bond_script_for("centos-stream10", None, addressing)
}

/// network-bond.sh rendered for an OS profile, optionally with another `network_stack`.
fn bond_script_for(os_id: &str, network_stack: Option<&str>, addressing: &str) -> String {
    use i3s_bundle::render::template::{Renderer, TemplateStore};
    let renderer = Renderer::new(TemplateStore::new(root().join("templates")));
    let front = renderer.store().front_matter("nic-bond.j2").unwrap();
    let mut params = toml::Table::new();
    params.insert("addressing".into(), addressing.into());
    let params = Renderer::merge_params(&front, &params).unwrap();
    let mut os = profile(os_id);
    os.insert("id".into(), os_id.into());
    if let Some(stack) = network_stack {
        os.insert("network_stack".into(), stack.into());
    }
    let rendered = renderer
        .render(
            "nic-bond.j2",
            Some(&os),
            &params,
            ("test-bundle", "2026.11.26"),
        )
        .unwrap();
    parse_script(&rendered.content)
        .unwrap()
        .uploads
        .into_iter()
        .find(|u| u.path == "/usr/local/bin/network-bond.sh")
        .unwrap()
        .content
}

/// A keyfile parsed as INI (GLib key file: `[section]`, `key=value`, `#` comments):
/// section -> key -> value. A malformed line or a duplicate key fails the test.
fn parse_keyfile(name: &str, text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(
                out.insert(name.to_string(), BTreeMap::new()).is_none(),
                "section [{name}] twice"
            );
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}: not key=value: {line:?}"));
        let section = section
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {line:?} outside a section"));
        let previous = out
            .get_mut(section)
            .unwrap()
            .insert(key.to_string(), value.to_string());
        assert!(previous.is_none(), "{name}: [{section}] {key} twice");
    }
    out
}

fn get<'a>(
    ini: &'a BTreeMap<String, BTreeMap<String, String>>,
    section: &str,
    key: &str,
) -> &'a str {
    ini.get(section)
        .and_then(|s| s.get(key))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no [{section}] {key} in {ini:?}"))
}

/// Checks the bond and port keyfiles of a run; returns the parsed keyfiles by connection id.
fn nm_connections(run: &BondRun) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> {
    assert!(run.ok, "network-bond.sh failed");
    let mut out = BTreeMap::new();
    for (file, text) in &run.files {
        let id = file
            .strip_suffix(".nmconnection")
            .unwrap_or_else(|| panic!("{file} is not a keyfile"));
        assert_eq!(
            run.modes[file], 0o600,
            "{file}: NetworkManager ignores it unless 0600"
        );
        let ini = parse_keyfile(file, text);
        assert_eq!(get(&ini, "connection", "id"), id);
        out.insert(id.to_string(), ini);
    }
    let bond = &out["bond0"];
    assert_eq!(get(bond, "connection", "type"), "bond");
    assert_eq!(get(bond, "connection", "interface-name"), "bond0");
    assert_eq!(get(bond, "bond", "mode"), "active-backup");
    assert_eq!(get(bond, "bond", "miimon"), "100");
    for nic in ["ens3f0", "ens3f1"] {
        let port = &out[&format!("bond0-port-{nic}")];
        assert_eq!(get(port, "connection", "type"), "ethernet");
        assert_eq!(get(port, "connection", "interface-name"), nic);
        assert_eq!(get(port, "connection", "master"), "bond0");
        assert_eq!(get(port, "connection", "slave-type"), "bond");
        assert!(!port.contains_key("ipv4"), "a bond port carries no address");
    }
    out
}

#[test]
fn networkmanager_bond_keyfiles_for_dhcp_and_static_tagged_and_untagged() {
    let nics = ["ens3f0", "ens3f1"];
    // DHCP, untagged: the bond carries the address; three connections, nothing else.
    let dhcp = nm_bond_script("dhcp");
    assert!(dhcp.contains("CONF_DIR=${CONF_DIR:-/etc/NetworkManager/system-connections}"));
    // The shipped bundles' scripts are these renders: every plan of every NetworkManager OS
    // (so a new OS is covered without editing this test).
    let stat = nm_bond_script("static");
    let mut shipped = Vec::new();
    for plan in our_plans() {
        let os = &bundles()[&plan.bundle].bundle.os;
        if profile(os)["network_stack"].as_str() != Some("networkmanager") {
            continue;
        }
        if let Some(script) = bond_script_in(&plan) {
            assert!(
                script == dhcp || script == stat,
                "{}: network-bond.sh is not the tested render",
                plan.label()
            );
            shipped.push(plan.bundle.clone());
        }
    }
    shipped.dedup();
    assert!(shipped.len() >= 3, "NetworkManager bundles: {shipped:?}");
    let run = run_bond_full(&dhcp, "0", &nics);
    let conns = nm_connections(&run);
    assert_eq!(
        conns.keys().collect::<Vec<_>>(),
        ["bond0", "bond0-port-ens3f0", "bond0-port-ens3f1"]
    );
    assert_eq!(get(&conns["bond0"], "ipv4", "method"), "auto");
    assert_eq!(
        run.calls,
        "nmcli connection reload\nnmcli connection up bond0\n\
         nmcli connection up bond0-port-ens3f0\nnmcli connection up bond0-port-ens3f1\n"
    );

    // DHCP, VLAN 120: the vlan connection on bond0 carries the address, the bond none.
    let run = run_bond_full(&dhcp, "120", &nics);
    let conns = nm_connections(&run);
    let vlan = &conns["bond0.120"];
    assert_eq!(get(vlan, "connection", "type"), "vlan");
    assert_eq!(get(vlan, "vlan", "id"), "120");
    assert_eq!(get(vlan, "vlan", "parent"), "bond0");
    assert_eq!(get(vlan, "ipv4", "method"), "auto");
    assert_eq!(get(&conns["bond0"], "ipv4", "method"), "disabled");
    assert!(
        run.calls.ends_with("nmcli connection up bond0.120\n"),
        "{}",
        run.calls
    );

    // Static, VLAN 120: address/prefix, gateway and both name servers on the vlan connection.
    let run = run_bond_full(&stat, "120", &nics);
    let conns = nm_connections(&run);
    let vlan = &conns["bond0.120"];
    assert_eq!(get(vlan, "vlan", "id"), "120");
    assert_eq!(get(vlan, "ipv4", "method"), "manual");
    assert_eq!(get(vlan, "ipv4", "address1"), "10.0.0.21/24");
    assert_eq!(get(vlan, "ipv4", "gateway"), "10.0.0.1");
    assert_eq!(get(vlan, "ipv4", "dns"), "10.0.0.2;10.0.0.3;");
    assert_eq!(get(&conns["bond0"], "ipv4", "method"), "disabled");
    assert!(
        !run.files.contains_key("resolv.conf"),
        "NetworkManager owns resolv.conf"
    );

    // Static, untagged: the bond itself is addressed.
    let run = run_bond_full(&stat, "0", &nics);
    let conns = nm_connections(&run);
    assert_eq!(conns.len(), 3, "{:?}", conns.keys());
    assert_eq!(get(&conns["bond0"], "ipv4", "method"), "manual");
    assert_eq!(get(&conns["bond0"], "ipv4", "address1"), "10.0.0.21/24");

    // A mask that is no netmask fails before a keyfile is written.
    let bad = stat.replace("SERVER_MASK='@SERVER_MASK@'", "SERVER_MASK='255.0.255.0'");
    let run = run_bond_full(&bad, "0", &nics);
    assert!(!run.ok && run.files.is_empty(), "{:?}", run.files);
}

/// Checks the bond and port files of a systemd-networkd run; returns them parsed by file name.
fn networkd_units(run: &BondRun) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> {
    assert!(run.ok, "network-bond.sh failed");
    let mut out = BTreeMap::new();
    for (file, text) in &run.files {
        if file == "resolv.conf" {
            continue;
        }
        assert!(
            file.ends_with(".netdev") || file.ends_with(".network"),
            "{file} is neither a .netdev nor a .network file"
        );
        assert_eq!(run.modes[file], 0o644, "{file}");
        out.insert(file.clone(), parse_keyfile(file, text));
    }
    let bond = &out["10-bond0.netdev"];
    assert_eq!(get(bond, "NetDev", "Name"), "bond0");
    assert_eq!(get(bond, "NetDev", "Kind"), "bond");
    assert_eq!(get(bond, "Bond", "Mode"), "active-backup");
    assert_eq!(get(bond, "Bond", "MIIMonitorSec"), "100ms");
    for nic in ["ens3f0", "ens3f1"] {
        let port = &out[&format!("10-bond0-port-{nic}.network")];
        assert_eq!(get(port, "Match", "Name"), nic);
        assert_eq!(get(port, "Network", "Bond"), "bond0");
        assert_eq!(port["Network"].len(), 1, "a bond port carries no address");
    }
    assert_eq!(get(&out["10-bond0.network"], "Match", "Name"), "bond0");
    assert_eq!(
        run.calls,
        "systemctl enable systemd-networkd\nsystemctl restart systemd-networkd\n"
    );
    out
}

#[test]
fn networkd_bond_files_for_dhcp_and_static_tagged_and_untagged() {
    let nics = ["ens3f0", "ens3f1"];
    let dhcp = bond_script_for("centos-stream10", Some("networkd"), "dhcp");
    assert!(dhcp.contains("CONF_DIR=${CONF_DIR:-/etc/systemd/network}"));

    // DHCP, untagged: the bond carries the address.
    let units = networkd_units(&run_bond_full(&dhcp, "0", &nics));
    assert_eq!(units.len(), 4, "{:?}", units.keys());
    let bond = &units["10-bond0.network"];
    assert_eq!(get(bond, "Network", "DHCP"), "ipv4");
    assert_eq!(get(bond, "Network", "IPv6AcceptRA"), "no");

    // DHCP, VLAN 120: a vlan netdev attached to the bond carries the address, the bond none.
    let units = networkd_units(&run_bond_full(&dhcp, "120", &nics));
    let vlan_dev = &units["10-bond0.120.netdev"];
    assert_eq!(get(vlan_dev, "NetDev", "Name"), "bond0.120");
    assert_eq!(get(vlan_dev, "NetDev", "Kind"), "vlan");
    assert_eq!(get(vlan_dev, "VLAN", "Id"), "120");
    assert_eq!(
        get(&units["10-bond0.network"], "Network", "VLAN"),
        "bond0.120"
    );
    assert!(!units["10-bond0.network"]["Network"].contains_key("DHCP"));
    let vlan = &units["10-bond0.120.network"];
    assert_eq!(get(vlan, "Match", "Name"), "bond0.120");
    assert_eq!(get(vlan, "Network", "DHCP"), "ipv4");

    // Static, VLAN 120: address/prefix, gateway and both name servers on the VLAN; resolv.conf
    // is written (networkd leaves it alone without systemd-resolved).
    let stat = bond_script_for("centos-stream10", Some("networkd"), "static");
    let run = run_bond_full(&stat, "120", &nics);
    let units = networkd_units(&run);
    let vlan = &units["10-bond0.120.network"];
    assert_eq!(get(vlan, "Network", "Address"), "10.0.0.21/24");
    assert_eq!(get(vlan, "Network", "Gateway"), "10.0.0.1");
    assert_eq!(get(vlan, "Network", "DNS"), "10.0.0.2 10.0.0.3");
    assert_eq!(
        run.files["resolv.conf"],
        "nameserver 10.0.0.2\nnameserver 10.0.0.3\n"
    );

    // Static, untagged: the bond itself is addressed.
    let units = networkd_units(&run_bond_full(&stat, "0", &nics));
    assert_eq!(
        get(&units["10-bond0.network"], "Network", "Address"),
        "10.0.0.21/24"
    );

    // A mask that is no netmask fails before a file is written.
    let bad = stat.replace("SERVER_MASK='@SERVER_MASK@'", "SERVER_MASK='255.0.255.0'");
    let run = run_bond_full(&bad, "0", &nics);
    assert!(!run.ok && run.files.is_empty(), "{:?}", run.files);
}
