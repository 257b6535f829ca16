//! `run --boot` for real: a debootstrapped Debian (minbase + systemd) on a synthetic LVM disk of
//! the test project's OS profile, a bundle source whose deploy plans install first-boot units with
//! the repository's `firstboot` macro (templates/_lib/systemd.j2), booted under systemd-nspawn.
//!
//! One test binary, one test, two runs (each one plan launch, one export launch, one boot): the
//! "failed" exit code with the text report, and the "timed out" one with `--json`. The rootfs tarball
//! and the disk are cached per suite in `$I3S_BOOT_CACHE` (default: the target's tmp dir), so
//! debootstrap runs once per CI cache (from deb.debian.org, or `$I3S_DEBIAN_MIRROR`). Needs root, systemd-nspawn (systemd-container),
//! debootstrap and guestfish; under CI=true they are required, elsewhere the test is skipped
//! loudly.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const SUITE: &str = "bookworm";

fn cache_dir() -> PathBuf {
    std::env::var_os("I3S_BOOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot-cache"))
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn sh(command: &mut Command) {
    let status = command.status().expect("start");
    assert!(status.success(), "{command:?}: {status}");
}

/// `SUITE` debootstrapped (minbase, systemd as init, dbus), docs and package cache dropped, as a
/// tar with numeric owners: built once, then reused.
fn rootfs_tar() -> PathBuf {
    let dir = cache_dir();
    let tar = dir.join(format!("{SUITE}-minbase-systemd.tar"));
    if tar.exists() {
        return tar;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join(format!("{SUITE}.partial"));
    let _ = std::fs::remove_dir_all(&root);
    let mirror = std::env::var("I3S_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_string());
    let started = Instant::now();
    sh(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus",
            SUITE,
        ])
        .arg(&root)
        .arg(&mirror)
        .stdout(Stdio::null()));
    eprintln!(
        "debootstrap {SUITE}: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // Every byte is exported again after each plan (slow under emulation): keep what boots.
    for trim in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "usr/share/i18n",
    ] {
        let _ = std::fs::remove_dir_all(root.join(trim));
    }
    let partial = tar.with_extension("tar.partial");
    sh(Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&partial)
        .arg("."));
    std::fs::rename(&partial, &tar).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    tar
}

/// A qcow2 disk with the profile's VG and root LV (ext4) holding the rootfs: what a golden image
/// of that OS looks like to a plan (the way tests/content_guestfish.rs builds its disks).
fn disk(vg: &str, root_lv: &str) -> PathBuf {
    let tar = rootfs_tar();
    let disk = cache_dir().join(format!("{SUITE}-{vg}.qcow2"));
    if disk.exists() {
        return disk;
    }
    let lv = root_lv.rsplit('/').next().unwrap();
    let partial = disk.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let script = format!(
        "disk-create {p} qcow2 1536M\nadd {p} format:qcow2\nrun\npart-disk /dev/sda mbr\npvcreate /dev/sda1\nvgcreate {vg} /dev/sda1\nlvcreate-free {lv} {vg} 100\nmkfs ext4 {root_lv}\nmount {root_lv} /\ntar-in {t} / xattrs:true\numount-all\n",
        p = partial.display(),
        t = tar.display()
    );
    // The crate's driver: the environment guestfish needs here (accelerator, appliance).
    let outcome = i3s_bundle::guestfish::driver::run_script(&[], &script).unwrap();
    assert!(
        outcome.success,
        "guestfish: making {disk:?}: {}",
        outcome.stderr
    );
    std::fs::rename(&partial, &disk).unwrap();
    disk
}

const UNITS_TEMPLATE: &str = r#"{#-
name = "Boot test units ({{ params.set }})"
plan_type = "deploy"
description = "First-boot units for the run --boot test"
[params]
set = { default = "mixed", choices = ["mixed", "hang"] }
-#}
{#- contract
boot_skip = { "boot-nic.service" = "needs the server's NICs" }
-#}
{% from "_lib/systemd.j2" import firstboot, script_header -%}
upload -<<END /etc/systemd/system/runlast.target
[Unit]
Description=First-boot units (after multi-user.target)
Requires=multi-user.target
After=multi-user.target
AllowIsolate=yes
END
mkdir-p /etc/systemd/system/runlast.target.wants
rm-f /etc/systemd/system/default.target
ln-sf /etc/systemd/system/runlast.target /etc/systemd/system/default.target
mkdir-p /usr/local/bin
{% call firstboot("boot-ok", "Succeeds") -%}
{{ script_header("Succeeds") }}
echo "boot-ok ran under $(cat /proc/1/comm)"
{%- endcall %}
{% if params.set == "mixed" %}
{% call firstboot("boot-nic", "Needs NICs a container does not have") -%}
{{ script_header("Fails anywhere but on the server") }}
ip link show ens3f0
{%- endcall %}
{% call firstboot("boot-fail", "Fails on purpose") -%}
{{ script_header("Fails on purpose") }}
echo "boot-fail: cannot reach the deployment server" >&2
exit 3
{%- endcall %}
{% call firstboot("boot-after-nic", "Requires boot-nic", after=["boot-nic.service"], requires=["boot-nic.service"]) -%}
{{ script_header("Needs the bond") }}
echo "boot-after-nic ran"
{%- endcall %}
{% call firstboot("boot-after-fail", "Requires boot-fail", after=["boot-fail.service"], requires=["boot-fail.service"]) -%}
{{ script_header("Needs what boot-fail does") }}
echo "boot-after-fail ran"
{%- endcall %}
{% endif %}
{% if params.set == "hang" %}
{% call firstboot("boot-hang", "Never ends") -%}
{{ script_header("Never ends") }}
echo "boot-hang waits forever"
sleep infinity
{%- endcall %}
{% endif %}
"#;

const BUNDLE: &str = r#"[bundle]
name = "Boot-Test"
version = "2026.12.01"
description = "First-boot units for run --boot"
os = "centos7.4"
checksum = "sha256"
read_only = false
artifact_prefix = "BootTest"

[[build_plan]]
name = "Deploy mixed"
type = "deploy"
description = "One unit succeeds, one fails, one is not exercised, one requires each of these"
steps = [{ template = "mount" }, { template = "boot-units", params = { set = "mixed" } }, { template = "umount" }]

[[build_plan]]
name = "Deploy hang"
type = "deploy"
description = "A unit that never ends"
steps = [{ template = "mount" }, { template = "boot-units", params = { set = "hang" } }, { template = "umount" }]
"#;

/// The test project: `init`'s skeleton, the repository's systemd macros, the units template.
fn project(dir: &Path) -> PathBuf {
    let status = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .arg("init")
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        repo.join("templates/_lib/systemd.j2"),
        dir.join("templates/_lib/systemd.j2"),
    )
    .unwrap();
    std::fs::write(dir.join("templates/boot-units.j2"), UNITS_TEMPLATE).unwrap();
    for f in std::fs::read_dir(dir.join("bundles-src")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let source = dir.join("bundles-src/boot-test.toml");
    std::fs::write(&source, BUNDLE).unwrap();
    source
}

fn profile_lvm(dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(dir.join("golden-images/centos7.4/profile.toml")).unwrap();
    let profile: toml::Table = toml::from_str(&text).unwrap();
    (
        profile["vg"].as_str().unwrap().to_string(),
        profile["root_lv"].as_str().unwrap().to_string(),
    )
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The temporary directories `run --boot` exports into (removed after each boot).
fn exported_trees() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("i3s-boot-"))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(source: &Path, image: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .arg("run")
        .arg(source)
        .args(args)
        .arg("--image")
        .arg(image)
        .arg("--boot")
        // The units need no network: keep the container off the host's.
        .arg("--nspawn-arg=--private-network")
        .output()
        .unwrap();
    eprintln!(
        "run {args:?} --boot: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn unit<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["boot"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == name)
        .unwrap_or_else(|| panic!("{name} not reported: {plan:#}"))
}

#[test]
#[ignore = "slow: boots under systemd-nspawn (cargo test -- --include-ignored)"]
fn first_boot_units_run_under_systemd_and_are_reported() {
    let tools = ["systemd-nspawn", "debootstrap", "guestfish"]
        .iter()
        .all(|t| common::require_tool(t));
    if !tools {
        return;
    }
    if !is_root() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "run --boot tests need root under CI"
        );
        eprintln!("\n*** SKIPPED: run --boot needs root (systemd-nspawn) ***\n");
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let source = project(&work.path().join("project"));
    let (vg, root_lv) = profile_lvm(&work.path().join("project"));
    let image = disk(&vg, &root_lv);
    eprintln!("image ready: {:.1} s", started.elapsed().as_secs_f64());
    let image_hash = sha256(&image);
    let exported = exported_trees();

    // The mixed plan: the failed unit decides the exit code; the text report names it with its
    // journal tail, says what was not exercised and why, and what never ran because of what.
    let mixed = run(&source, &image, &["BootTest - Deploy mixed"]);
    assert_eq!(mixed.code, 1, "{}\n{}", mixed.stdout, mixed.stderr);
    for needle in [
        "boot: finished in",
        "5 first-boot unit(s)",
        // Its own output: it ran under systemd as PID 1.
        "unit boot-ok.service: succeeded",
        "unit boot-fail.service: FAILED (exit-code, exit status 3)",
        "    | boot-fail.sh: boot-fail: cannot reach the deployment server",
        "unit boot-nic.service: not exercised: needs the server's NICs",
        // A not-exercised unit's stand-in writes its done-stamp: the unit after it ran, and the
        // report says after what.
        "unit boot-after-nic.service: succeeded (ran after boot-nic.service's stand-in: boot-nic.service was not exercised)",
        "unit boot-after-fail.service: not run: it requires boot-fail.service, which failed",
        "boot: failed: boot-fail.service, boot-after-fail.service",
    ] {
        assert!(
            mixed.stdout.contains(needle),
            "{needle:?} in\n{}",
            mixed.stdout
        );
    }

    // A unit that never ends: the bound holds, exit 3, and the journal up to the timeout says
    // what had finished and what was still running.
    let hang = run(
        &source,
        &image,
        &["BootTest - Deploy hang", "--json", "--boot-timeout", "15s"],
    );
    assert_eq!(hang.code, 3, "{}\n{}", hang.stdout, hang.stderr);
    let report: serde_json::Value = serde_json::from_str(&hang.stdout).unwrap();
    let plan = &report["plans"][0];
    assert_eq!(plan["boot"]["outcome"], "timed-out", "{plan:#}");
    let ok = unit(plan, "boot-ok.service");
    assert_eq!(ok["status"], "succeeded", "{ok:#}");
    assert!(
        ok["journal"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("boot-ok ran under systemd")),
        "{ok:#}"
    );
    let hung = unit(plan, "boot-hang.service");
    assert_eq!(hung["status"], "unfinished", "{hung:#}");
    assert!(
        hung["journal"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("boot-hang waits forever")),
        "{hung:#}"
    );
    let took = plan["boot"]["elapsed"].as_f64().unwrap();
    assert!((15.0..60.0).contains(&took), "{plan:#}");

    // The input image was never written, and no exported tree was left behind.
    assert_eq!(sha256(&image), image_hash, "the input image changed");
    assert_eq!(
        exported_trees(),
        exported,
        "an exported tree was left behind"
    );
    eprintln!("boot test: {:.1} s in all", started.elapsed().as_secs_f64());
}
