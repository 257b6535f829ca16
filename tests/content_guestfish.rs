//! Runs every build plan of the repository's bundles with the real guestfish against a synthetic
//! disk per OS (its profile's VG, the directories of its fake.toml), in one appliance launch
//! (`lvm-set-filter` shows LVM one disk at a time: two OSes may share a VG name), with typed sample
//! values substituted as the appliance would. After each plan the test copies the image's files
//! out and checks that they are exactly what the plan's uploads, chmods and links describe.
use crate::common;
use crate::content_support;
use content_support::*;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Directories a freshly installed golden image has and the plans rely on.
const BASE_DIRS: [&str; 10] = [
    "/etc/systemd/system",
    "/etc/sysconfig/network-scripts",
    "/etc/sysctl.d",
    "/etc/ssh",
    "/usr/local/bin",
    "/root",
    "/var/log",
    "/var/cache/yum",
    "/var/cache/dnf",
    "/home",
];

/// The network configuration an installed system of `os` has (what capture must remove).
fn network_file(os: &str) -> &'static str {
    match profile(os)["network_stack"].as_str() {
        Some("network-scripts") => "/etc/sysconfig/network-scripts/ifcfg-ens3f0",
        Some("networkmanager") => "/etc/NetworkManager/system-connections/ens3f0.nmconnection",
        Some("networkd") => "/etc/systemd/network/10-ens3f0.network",
        other => panic!("{os}: network_stack {other:?} has no installed-system file here"),
    }
}

fn image_setup(device: &str, vg: &str, extra_dirs: &[String], network_file: &str) -> String {
    let mut s = format!(
        "lvm-set-filter {device}\npart-disk {device} mbr\npvcreate {device}1\nvgcreate {vg} {device}1\nlvcreate-free root {vg} 100\nmkfs ext4 /dev/{vg}/root\nmount /dev/{vg}/root /\n"
    );
    for dir in BASE_DIRS
        .iter()
        .copied()
        .chain(extra_dirs.iter().map(String::as_str))
    {
        s.push_str(&format!("mkdir-p {dir}\n"));
    }
    // What an installed system has that the capture plan generalizes.
    s.push_str("touch /etc/machine-id\ntouch /etc/hostname\ntouch /etc/resolv.conf\ntouch /etc/ssh/ssh_host_rsa_key\n");
    let network_dir = Path::new(network_file)
        .parent()
        .unwrap()
        .display()
        .to_string();
    s.push_str(&format!(
        "mkdir-p {network_dir}\ntouch {network_file}\ntouch /var/log/messages\ntouch /root/.bash_history\n"
    ));
    s.push_str("ln-s /usr/lib/systemd/system/multi-user.target /etc/systemd/system/default.target\numount /\n");
    s
}

fn compare(plan: &Plan, local: &Path) -> Vec<String> {
    let tree = plan.tree();
    let mut problems = Vec::new();
    for (path, (content, mode)) in &tree.files {
        let copy = local.join(path.trim_start_matches('/'));
        match std::fs::read_to_string(&copy) {
            Err(e) => problems.push(format!("{path}: not in the image ({e})")),
            Ok(actual) => {
                if actual != substitute_samples(content) {
                    problems.push(format!("{path}: content differs from the upload"));
                }
                let actual_mode = std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::metadata(&copy).unwrap().permissions(),
                ) & 0o7777;
                // Files no chmod touched keep guestfish's default; only explicit modes are compared.
                if *mode != 0o644 && actual_mode != *mode {
                    problems.push(format!(
                        "{path}: mode {actual_mode:o}, the plan sets {mode:o}"
                    ));
                }
            }
        }
    }
    for (link, target) in &tree.links {
        match std::fs::read_link(local.join(link.trim_start_matches('/'))) {
            Ok(t) if t == Path::new(target) => {}
            other => problems.push(format!(
                "{link}: expected a link to {target}, found {other:?}"
            )),
        }
    }
    for (dir, mode) in &tree.dirs {
        if let Ok(meta) = std::fs::metadata(local.join(dir.trim_start_matches('/'))) {
            let actual = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            if *mode != 0o755 && actual != *mode {
                problems.push(format!("{dir}: mode {actual:o}, the plan sets {mode:o}"));
            }
        } else {
            problems.push(format!("{dir}: directory missing"));
        }
    }
    problems
}

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn every_plan_runs_in_guestfish_and_writes_exactly_its_uploads() {
    if !common::require_tool("guestfish") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let plans = our_plans();
    let sources = bundles();
    // One disk per OS the bundles use: /dev/sda, /dev/sdb, … in name order.
    let oses: std::collections::BTreeSet<String> =
        sources.values().map(|s| s.bundle.os.clone()).collect();
    let device_of = |os: &str| {
        let index = oses.iter().position(|o| o == os).unwrap();
        format!("/dev/sd{}", (b'a' + index as u8) as char)
    };
    let mut script = String::new();
    for os in &oses {
        script.push_str(&format!("sparse {}/{os}.img 256M\n", work.path().display()));
    }
    script.push_str("run\n");
    for os in &oses {
        let vg = profile(os)["vg"].as_str().unwrap().to_string();
        let fake = i3s_bundle::image::OsDefinition::load(&root().join("golden-images").join(os))
            .unwrap()
            .fake;
        script.push_str(&image_setup(
            &device_of(os),
            &vg,
            &fake.directories,
            network_file(os),
        ));
    }
    for (i, plan) in plans.iter().enumerate() {
        let os = &sources[&plan.bundle].bundle.os;
        let root_lv = profile(os)["root_lv"].as_str().unwrap().to_string();
        script.push_str(&format!("lvm-set-filter {}\n", device_of(os)));
        script.push_str(&format!("echo '=== plan {i}: {}'\n", plan.label()));
        for (_, content) in &plan.steps {
            script.push_str(&substitute_samples(content));
            script.push('\n');
        }
        let out = work.path().join(format!("plan{i}"));
        std::fs::create_dir_all(&out).unwrap();
        script.push_str(&format!(
            "mount {root_lv} /\ncopy-out /etc /usr/local /root /var {}\necho autorelabel-{i}\nis-file /.autorelabel\numount /\n",
            out.display()
        ));
    }

    // TCG by default: nested KVM aborts on the CI machines; set LIBGUESTFS_BACKEND_SETTINGS="" to use KVM.
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_MEMSIZE", "512");
    cmd.env(
        "LIBGUESTFS_BACKEND_SETTINGS",
        std::env::var("LIBGUESTFS_BACKEND_SETTINGS").unwrap_or("force_tcg".into()),
    );
    let script_file = work.path().join("plans.gf");
    std::fs::File::create(&script_file)
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = cmd
        .arg("-f")
        .arg(&script_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "guestfish failed:\n{stderr}\n--- last output ---\n{}",
        stdout.lines().rev().take(15).collect::<Vec<_>>().join("\n")
    );
    assert!(
        stderr.trim().is_empty() || !stderr.contains("error"),
        "guestfish reported errors:\n{stderr}"
    );

    let mut problems = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let local = work.path().join(format!("plan{i}"));
        // copy-out /etc DIR puts the tree under DIR/etc; /usr/local under DIR/local; /root, /var likewise.
        let staged = work.path().join(format!("staged{i}"));
        std::fs::create_dir_all(staged.join("usr")).unwrap();
        std::fs::rename(local.join("etc"), staged.join("etc")).unwrap();
        std::fs::rename(local.join("local"), staged.join("usr/local")).unwrap();
        std::fs::rename(local.join("root"), staged.join("root")).unwrap();
        std::fs::rename(local.join("var"), staged.join("var")).unwrap();
        // /.autorelabel (prep's, empty) is outside the copied trees: guestfish's is-file says.
        let lines: Vec<&str> = stdout.lines().collect();
        let marker = lines
            .iter()
            .position(|l| *l == format!("autorelabel-{i}"))
            .expect("is-file marker");
        if lines.get(marker + 1) == Some(&"true") {
            std::fs::write(staged.join(".autorelabel"), "").unwrap();
        }
        problems.extend(
            compare(plan, &staged)
                .into_iter()
                .map(|p| format!("{}: {p}", plan.label())),
        );
        if plan.kind == "capture" {
            let network = network_file(&sources[&plan.bundle].bundle.os).trim_start_matches('/');
            for gone in [
                "etc/hostname",
                "etc/resolv.conf",
                "etc/ssh/ssh_host_rsa_key",
                network,
                "root/.bash_history",
            ] {
                assert!(
                    !staged.join(gone).exists(),
                    "{}: {gone} survives generalization",
                    plan.label()
                );
            }
            assert_eq!(
                std::fs::metadata(staged.join("etc/machine-id"))
                    .unwrap()
                    .len(),
                0,
                "machine-id not reset"
            );
        } else {
            let default =
                std::fs::read_link(staged.join("etc/systemd/system/default.target")).unwrap();
            assert_eq!(
                default,
                Path::new("/etc/systemd/system/runlast.target"),
                "{}",
                plan.label()
            );
        }
    }
    assert!(
        problems.is_empty(),
        "image differs from the plans:\n{}",
        problems.join("\n")
    );
}
