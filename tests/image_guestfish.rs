//! Golden images and local plan runs with the real guestfish (software emulation, ~20 s per
//! appliance launch). One test binary; at most two tests hold a launch slot at a time (one
//! appliance under TCG keeps one core busy; CI has two), the fake images are made once per run
//! (two launches side by side, three OSes each) and so are the broken copies of them (one
//! launch), which two tests share.
use crate::common;
use common::*;
use i3s_bundle::bundle::{
    self, BuildPlan, BuildStep, Bundle, ChecksumFlavour, Manifest, PlanScript, ReadOptions,
    read_bundle,
};
use i3s_bundle::guestfish::{self, driver};
use i3s_bundle::image::listing::{Change, ChangeKind, FileType, glob_match};
use i3s_bundle::image::needs::{Need, bundle_needs};
use i3s_bundle::image::requirements::Requirement;
use i3s_bundle::image::run::{self, PreparedPlan, StepStatus};
use i3s_bundle::image::{OsDefinition, check_many, fake};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

/// Guestfish launches that may run at once (the tests holding a slot).
const SLOTS: usize = 2;
static BUSY: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A launch slot, given back on drop.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        *BUSY.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        FREED.notify_one();
    }
}

fn lock() -> Slot {
    let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
    while *busy >= SLOTS {
        busy = FREED.wait(busy).unwrap_or_else(|p| p.into_inner());
    }
    *busy += 1;
    Slot
}

struct Fakes {
    _dir: tempfile::TempDir,
    centos: PathBuf,
    /// Every OS under golden-images/ (the two above included), by OS name.
    by_os: BTreeMap<String, PathBuf>,
}

/// Every OS directory under golden-images/.
fn os_names() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    names
}

fn os(name: &str) -> OsDefinition {
    OsDefinition::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("golden-images")
            .join(name),
    )
    .unwrap()
}

/// The fake images, made once (call with the lock held).
fn fakes() -> &'static Fakes {
    static FAKES: OnceLock<Fakes> = OnceLock::new();
    FAKES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let names = os_names();
        let defs: Vec<OsDefinition> = names.iter().map(|n| os(n)).collect();
        // centos7.4 stays raw (the raw path is tested too), the others are qcow2.
        let by_os: BTreeMap<String, PathBuf> = names
            .iter()
            .map(|n| {
                let ext = if n == "centos7.4" { "img" } else { "qcow2" };
                (n.clone(), dir.path().join(format!("{n}.{ext}")))
            })
            .collect();
        let jobs: Vec<fake::FakeJob> = defs
            .iter()
            .zip(&names)
            .map(|(def, n)| fake::FakeJob {
                os: def,
                out: by_os[n].clone(),
                size: fake::DEFAULT_SIZE,
            })
            .collect();
        // Two launches side by side: the caller holds one slot, and whoever holds the other
        // waits here (every test that takes a slot needs the fakes first).
        let started = Instant::now();
        let (first, second) = jobs.split_at(jobs.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| fake::fake_many(second).unwrap());
            fake::fake_many(first).unwrap();
            other.join().unwrap();
        });
        eprintln!(
            "fake images for {} OSes in two parallel launches: {:.1} s",
            jobs.len(),
            started.elapsed().as_secs_f64()
        );
        Fakes {
            _dir: dir,
            centos: by_os["centos7.4"].clone(),
            by_os,
        }
    })
}

fn have_guestfish() -> bool {
    require_tool("guestfish") && require_tool("qemu-img")
}

fn sha256_file(path: &Path) -> String {
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex::encode(hasher.finalize())
}

/// Changes `images` (qcow2 overlays) with one guestfish script each, in one launch.
fn modify(images: &[(PathBuf, Vec<String>)]) {
    let drives: Vec<driver::Drive> = images
        .iter()
        .map(|(path, _)| driver::Drive {
            path: path.clone(),
            format: driver::DiskFormat::Qcow2,
            read_only: false,
        })
        .collect();
    let mut script = String::from("run\n");
    for (i, (_, commands)) in images.iter().enumerate() {
        script.push_str(&format!("lvm-set-filter {}\n", driver::device_name(i)));
        for c in commands {
            script.push_str(c);
            script.push('\n');
        }
        script.push_str("umount-all\n");
    }
    let outcome = driver::run_script(&drives, &script).unwrap();
    assert!(
        outcome.success,
        "breaking the copies failed: {}",
        outcome.stderr
    );
}

/// A broken copy: (image name, OS, commands that break it, the check that must fail, whether the
/// break is isolated).
type Case = (&'static str, &'static str, Vec<String>, &'static str, bool);

/// Overlays of the fakes, each with one requirement broken, made once (call with a slot held):
/// the check test checks them all, the `--bundle` test runs the CLI on `c-no-sysctl-d`.
struct Broken {
    _dir: tempfile::TempDir,
    cases: Vec<Case>,
    /// By case, in order.
    images: Vec<PathBuf>,
}

impl Broken {
    fn image(&self, name: &str) -> &Path {
        let at = self.cases.iter().position(|c| c.0 == name).unwrap();
        &self.images[at]
    }
}

fn broken() -> &'static Broken {
    static BROKEN: OnceLock<Broken> = OnceLock::new();
    BROKEN.get_or_init(|| {
        let fakes = fakes();
        let dir = tempfile::tempdir().unwrap();
        let mount_c = "mount /dev/cl/root /".to_string();
        let mount_f = "mount /dev/fedora/root /".to_string();
        let mount_s = "mount /dev/cs/root /".to_string();
        let mount_d = "mount /dev/debian/root /".to_string();
        let cases: Vec<Case> = vec![
            ("c-vg-renamed", "centos7.4", vec!["vg-activate false cl".into(), "vgrename cl centos".into()], "root-lv", false),
            // The appliance has no mkfs.xfs; any file system other than ext4 must fail the same check.
            ("c-root-ext2", "centos7.4", vec!["mkfs ext2 /dev/cl/root".into()], "root-ext4", false),
            (
                "c-networkmanager",
                "centos7.4",
                vec![mount_c.clone(), "ln-s /usr/lib/systemd/system/NetworkManager.service /etc/systemd/system/multi-user.target.wants/NetworkManager.service".into()],
                "networkmanager-disabled",
                true,
            ),
            ("c-network-off", "centos7.4", vec![mount_c.clone(), "rm /etc/rc.d/rc3.d/S10network".into()], "network-enabled", true),
            ("c-no-network-scripts", "centos7.4", vec![mount_c.clone(), "rm /etc/rc.d/init.d/network".into()], "network-scripts", true),
            (
                "c-multipath-plain",
                "centos7.4",
                vec![mount_c.clone(), "write /etc/multipath.conf \"defaults {\\n  user_friendly_names no\\n  find_multipaths yes\\n}\\n\"".into()],
                "multipath-configured",
                true,
            ),
            (
                "c-multipathd-off",
                "centos7.4",
                vec![mount_c.clone(), "rm /etc/systemd/system/sysinit.target.wants/multipathd.service".into()],
                "multipathd-enabled",
                true,
            ),
            ("c-cloud-init", "centos7.4", vec![mount_c.clone(), "touch /usr/bin/cloud-init".into()], "no-cloud-init", true),
            (
                "c-fstab-xfs",
                "centos7.4",
                vec![mount_c.clone(), "write /etc/fstab \"/dev/mapper/cl-root / xfs defaults 0 0\\n\"".into()],
                "fstab-root-ext4",
                true,
            ),
            (
                "c-no-ibft",
                "centos7.4",
                vec![mount_c.clone(), "write /etc/default/grub \"GRUB_CMDLINE_LINUX=\\\"rhgb quiet\\\"\\n\"".into()],
                "iscsi-ibft",
                true,
            ),
            ("c-root-locked", "centos7.4", vec![mount_c.clone(), "write /etc/shadow \"root:!!:17470::::::\\n\"".into()], "root-password", true),
            // The profile's [posture] (#11): SELinux mode and the firewall service.
            (
                "c-selinux-permissive",
                "centos7.4",
                vec![mount_c.clone(), "write /etc/selinux/config \"SELINUX=permissive\\nSELINUXTYPE=targeted\\n\"".into()],
                "posture-selinux",
                true,
            ),
            (
                "c-firewalld-off",
                "centos7.4",
                vec![mount_c.clone(), "rm /etc/systemd/system/multi-user.target.wants/firewalld.service".into()],
                "posture-firewall",
                true,
            ),
            // What the plans need (derived, covered by requirements.toml): the Docker CE plan's
            // `upload /etc/sysctl.d/40-ipv6.conf` (#11).
            ("c-no-sysctl-d", "centos7.4", vec![mount_c.clone(), "rm-rf /etc/sysctl.d".into()], "sysctl-d", true),
            ("f-vg-renamed", "fedora27", vec!["vg-activate false fedora".into(), "vgrename fedora fc".into()], "root-lv", false),
            (
                "f-networkmanager",
                "fedora27",
                vec![mount_f.clone(), "ln-s /usr/lib/systemd/system/NetworkManager.service /etc/systemd/system/multi-user.target.wants/NetworkManager.service".into()],
                "networkmanager-disabled",
                true,
            ),
            ("f-root-ext3", "fedora27", vec!["mkfs ext3 /dev/fedora/root".into()], "root-ext4", false),
            (
                "f-selinux-permissive",
                "fedora27",
                vec![mount_f.clone(), "write /etc/selinux/config \"SELINUX=permissive\\n\"".into()],
                "posture-selinux",
                true,
            ),
            // The modern layout (#12): NetworkManager with keyfiles, no network-scripts, sshd drop-ins.
            (
                "s-networkmanager-off",
                "centos-stream10",
                vec![mount_s.clone(), "rm /etc/systemd/system/multi-user.target.wants/NetworkManager.service".into()],
                "networkmanager-enabled",
                true,
            ),
            (
                "s-no-keyfile-dir",
                "centos-stream10",
                vec![mount_s.clone(), "rm-rf /etc/NetworkManager/system-connections".into()],
                "networkmanager-keyfiles-dir",
                true,
            ),
            (
                "s-network-scripts",
                "centos-stream10",
                vec![mount_s.clone(), "mkdir-p /etc/rc.d/init.d".into(), "touch /etc/rc.d/init.d/network".into()],
                "no-network-scripts",
                true,
            ),
            (
                "s-ifcfg",
                "centos-stream10",
                vec![mount_s.clone(), "mkdir-p /etc/sysconfig/network-scripts".into(), "touch /etc/sysconfig/network-scripts/ifcfg-eth0".into()],
                "no-ifcfg-files",
                true,
            ),
            (
                "s-no-sshd-include",
                "centos-stream10",
                vec![mount_s.clone(), "write /etc/ssh/sshd_config \"PermitRootLogin prohibit-password\\n\"".into()],
                "sshd-dropin-dir",
                true,
            ),
            ("f45-no-dnf5-cache", "fedora45", vec![mount_f.clone(), "rm-rf /var/cache/libdnf5".into()], "dnf-cache", true),
            (
                "f45-networkmanager-off",
                "fedora45",
                vec![mount_f.clone(), "rm /etc/systemd/system/multi-user.target.wants/NetworkManager.service".into()],
                "networkmanager-enabled",
                true,
            ),
            // Debian 12 (#20): the requirements tests/image_build_debian.rs does not break on the
            // built image.
            ("d-no-initramfs", "debian12", vec![mount_d.clone(), "rm /initrd.img".into()], "initramfs", true),
            (
                "d-no-grub-cmdline",
                "debian12",
                vec![mount_d.clone(), "write /etc/default/grub \"GRUB_TIMEOUT=5\\n\"".into()],
                "grub-defaults",
                true,
            ),
            ("d-no-networkd-unit", "debian12", vec![mount_d.clone(), "rm /usr/lib/systemd/system/systemd-networkd.service".into()], "networkd-unit", true),
            ("d-no-ca-bundle", "debian12", vec![mount_d.clone(), "rm /etc/ssl/certs/ca-certificates.crt".into()], "ca-certificates", true),
            ("d-no-apt-cache", "debian12", vec![mount_d.clone(), "rm-rf /var/cache/apt/archives".into()], "apt-cache", true),
        ];

        let broken: Vec<(PathBuf, Vec<String>)> = cases
            .iter()
            .map(|(name, os_name, commands, _, _)| {
                let base = &fakes.by_os[*os_name];
                let path = dir.path().join(format!("{name}.qcow2"));
                run::create_overlay(base, driver::DiskFormat::detect(base).unwrap(), &path)
                    .unwrap();
                (path, commands.clone())
            })
            .collect();
        let started = Instant::now();
        modify(&broken);
        eprintln!(
            "{} broken copies in one launch: {:.1} s",
            broken.len(),
            started.elapsed().as_secs_f64()
        );
        Broken {
            _dir: dir,
            cases,
            images: broken.into_iter().map(|(p, _)| p).collect(),
        }
    })
}

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn fake_then_check_passes_and_each_broken_requirement_fails_the_right_check() {
    if !have_guestfish() {
        return;
    }
    let _guard = lock();
    let fakes = fakes();
    let broken = broken();
    let cases = &broken.cases;
    let case_defs: Vec<OsDefinition> = cases.iter().map(|c| os(c.1)).collect();

    // The fakes also hold every path the repository's bundles need (derived from their plans).
    let dist = tempfile::tempdir().unwrap();
    let repository = repository_bundles(dist.path());
    let needs_of = |os_name: &str| -> Vec<Requirement> {
        let bundles: Vec<Bundle> = repository
            .iter()
            .filter(|(_, o)| o == os_name)
            .map(|(p, _)| read_bundle(p, &ReadOptions::default()).unwrap().bundle)
            .collect();
        let refs: Vec<&Bundle> = bundles.iter().collect();
        bundle_needs(&refs).iter().map(Need::requirement).collect()
    };
    let names = os_names();
    let defs: Vec<OsDefinition> = names.iter().map(|n| os(n)).collect();
    let needs: Vec<Vec<Requirement>> = names.iter().map(|n| needs_of(n)).collect();
    for (n, need) in names.iter().zip(&needs) {
        // An OS no repository bundle uses yet (debian12 until its bundle lands) has no needs.
        let has_bundle = repository.iter().any(|(_, o)| o == n);
        assert_eq!(!need.is_empty(), has_bundle, "{n}: bundle needs");
    }
    let mut jobs: Vec<i3s_bundle::image::check::CheckJob> = names
        .iter()
        .zip(defs.iter().zip(&needs))
        .map(|(n, (def, need))| i3s_bundle::image::check::CheckJob {
            image: fakes.by_os[n].clone(),
            os: def,
            captured: false,
            extra: need,
        })
        .collect();
    for (path, def) in broken.images.iter().zip(&case_defs) {
        jobs.push(i3s_bundle::image::check::CheckJob {
            image: path.clone(),
            os: def,
            captured: false,
            extra: &[],
        });
    }
    let started = Instant::now();
    let reports = check_many(&jobs).unwrap();
    eprintln!(
        "{} images checked in one launch: {:.1} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    for report in &reports[..names.len()] {
        let failed: Vec<_> = report.results.iter().filter(|r| !r.passed).collect();
        assert!(
            failed.is_empty(),
            "fake {} fails its own requirements: {failed:#?}",
            report.os
        );
        assert!(
            report.results.len() >= 15,
            "{}: only {} checks",
            report.os,
            report.results.len()
        );
        // `posture-firewall`, or for `firewall = "none"` (debian12) one check per service.
        for id in ["posture-selinux", "posture-firewall"] {
            assert!(
                report.results.iter().any(|r| r.id.starts_with(id)),
                "{}: no {id}",
                report.os
            );
        }
        assert!(
            report.results.iter().any(|r| r.id.starts_with("need:"))
                || !repository.iter().any(|(_, o)| *o == report.os),
            "{}: derived needs checked",
            report.os
        );
    }
    for (report, (name, _, _, expected, isolated)) in reports[names.len()..].iter().zip(cases) {
        let result = report
            .result(expected)
            .unwrap_or_else(|| panic!("{name}: no check {expected}"));
        assert!(
            !result.passed,
            "{name}: {expected} should fail, found: {}",
            result.found
        );
        if *name == "c-selinux-permissive" {
            assert_eq!(result.found, "SELINUX=permissive in /etc/selinux/config");
        }
        if *isolated {
            let others: Vec<_> = report
                .results
                .iter()
                .filter(|r| !r.passed && r.id != *expected)
                .collect();
            assert!(
                others.is_empty(),
                "{name}: only {expected} should fail, also: {others:#?}"
            );
        }
    }
}

/// What a plan's `upload`, `ln-s`, `chmod` and removal lines claim about the final image.
#[derive(Debug, Clone, PartialEq)]
enum Claim {
    File { size: u64 },
    Directory,
    Symlink { target: String },
    Removed,
}

/// Replays the commands of a prepared plan on a model: path → claim, plus modes.
fn claims(
    plan: &PreparedPlan,
) -> (
    BTreeMap<String, Claim>,
    BTreeMap<String, String>,
    Vec<String>,
) {
    let mut state = BTreeMap::new();
    let mut modes = BTreeMap::new();
    let mut removed_patterns = Vec::new();
    for step in &plan.steps {
        let script = guestfish::parse(&step.content);
        for command in &script.commands {
            let (name, args) = guestfish::commands::unprefix(&command.name, &command.args);
            let globbed = command.name == "glob";
            match (name, args) {
                ("upload", _) if command.heredoc.is_some() => {
                    let heredoc = command.heredoc.as_ref().unwrap();
                    state.insert(
                        heredoc.path.clone(),
                        Claim::File {
                            size: heredoc.file_content().len() as u64,
                        },
                    );
                    modes.remove(&heredoc.path);
                }
                ("ln-s" | "ln-sf", [target, link]) => {
                    state.insert(
                        link.clone(),
                        Claim::Symlink {
                            target: target.clone(),
                        },
                    );
                }
                ("chmod", [mode, path]) => {
                    modes.insert(
                        path.clone(),
                        format!("{:04o}", u32::from_str_radix(mode, 8).unwrap()),
                    );
                }
                ("rm" | "rm-f" | "rm-rf", [path]) if globbed => {
                    removed_patterns.push(path.clone());
                    let matching: Vec<String> = state
                        .keys()
                        .filter(|k| glob_match(path, k))
                        .cloned()
                        .collect();
                    for k in matching {
                        state.insert(k, Claim::Removed);
                    }
                }
                ("rm" | "rm-f" | "rm-rf", [path]) => {
                    state.insert(path.clone(), Claim::Removed);
                }
                ("mkdir" | "mkdir-p", [path]) => {
                    state.insert(path.clone(), Claim::Directory);
                }
                ("touch", [path]) if state.get(path) == Some(&Claim::Removed) => {
                    state.insert(path.clone(), Claim::File { size: 0 });
                }
                _ => {}
            }
        }
    }
    (state, modes, removed_patterns)
}

fn assert_claims_reported(plan: &PreparedPlan, changes: &[Change]) {
    let by_path: BTreeMap<&str, &Change> = changes.iter().map(|c| (c.path.as_str(), c)).collect();
    let (state, modes, _) = claims(plan);
    let mut checked = 0;
    for (path, claim) in &state {
        let change = by_path.get(path.as_str());
        match claim {
            Claim::File { size } => {
                let c = change.unwrap_or_else(|| {
                    panic!("{}: {path} is uploaded but not reported", plan.name)
                });
                assert_ne!(c.kind, ChangeKind::Removed, "{}: {path}", plan.name);
                assert_eq!(c.file_type, FileType::File, "{}: {path}", plan.name);
                assert_eq!(c.size, *size, "{}: {path} size", plan.name);
            }
            Claim::Symlink { target } => {
                let c = change
                    .unwrap_or_else(|| panic!("{}: symlink {path} is not reported", plan.name));
                assert_eq!(c.file_type, FileType::Symlink, "{}: {path}", plan.name);
                assert_eq!(
                    c.target.as_deref(),
                    Some(target.as_str()),
                    "{}: {path}",
                    plan.name
                );
            }
            Claim::Directory => {
                if let Some(c) = change {
                    assert_eq!(c.file_type, FileType::Directory, "{}: {path}", plan.name);
                    assert_ne!(c.kind, ChangeKind::Removed, "{}: {path}", plan.name);
                }
            }
            Claim::Removed => {
                // Removing a path that did not exist (rm-f, rm-rf) reports nothing; a reported
                // change must be the removal.
                if let Some(c) = change {
                    assert_eq!(
                        c.kind,
                        ChangeKind::Removed,
                        "{}: {path} should be removed: {c:?}",
                        plan.name
                    );
                }
            }
        }
        checked += 1;
    }
    for (path, mode) in &modes {
        let c = by_path
            .get(path.as_str())
            .unwrap_or_else(|| panic!("{}: chmod {path} not reported", plan.name));
        assert_eq!(&c.mode, mode, "{}: mode of {path}", plan.name);
        checked += 1;
    }
    assert!(
        checked > 0 || plan.steps.iter().all(|s| !s.content.contains("upload")),
        "{}: nothing checked",
        plan.name
    );
}

/// The repository's bundles (bundles-src/), built into `out`, each with its OS.
fn repository_bundles(out: &Path) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("bundles-src").is_dir() {
        return Vec::new();
    }
    let options = i3s_bundle::build::BuildOptions {
        root: root.to_path_buf(),
        out: Some(out.to_path_buf()),
        bundles: Vec::new(),
        force: true,
        archive: false,
    };
    let report = i3s_bundle::build::build(&options).unwrap();
    report
        .bundles
        .iter()
        .map(|b| {
            let source: toml::Value =
                toml::from_str(&std::fs::read_to_string(root.join(&b.source)).unwrap()).unwrap();
            let os = source["bundle"]["os"].as_str().unwrap().to_string();
            let path = if b.path.is_absolute() {
                b.path.clone()
            } else {
                root.join(&b.path)
            };
            (path, os)
        })
        .collect()
}

/// A bug the lab shipped: umount is step 1 and mount the last step.
const SWAPPED_MOUNT: &str = "2018-03-15-HudsonAlpha_Docker_CentOS7.4";

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn every_build_plan_of_the_repository_and_the_reference_bundles_runs_against_its_os_fake() {
    if !have_guestfish() {
        return;
    }
    let _guard = lock();
    let fakes = fakes();
    let sums: BTreeMap<&String, String> = fakes
        .by_os
        .iter()
        .map(|(n, p)| (n, sha256_file(p)))
        .collect();
    let dist = tempfile::tempdir().unwrap();
    let repository = repository_bundles(dist.path());
    let mut bundles: Vec<(PathBuf, String)> = repository.clone();
    for name in REFERENCE_BUNDLES {
        bundles.push((
            fixture(name),
            if name.contains("Fedora") {
                "fedora27".into()
            } else {
                "centos7.4".into()
            },
        ));
    }
    let mut prepared = Vec::new();
    for (b, (path, os_name)) in bundles.iter().enumerate() {
        let loaded = read_bundle(path, &ReadOptions::default()).unwrap();
        let image = &fakes.by_os[os_name];
        for plan in &loaded.bundle.build_plans {
            let values = run::sample_values(&loaded.bundle, plan);
            let prepared_plan = run::prepare(
                path,
                &loaded.bundle,
                &plan.name,
                &values,
                run::HostAccess::Refuse,
            )
            .unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), plan.name));
            prepared.push((image.clone(), os_name.clone(), prepared_plan, b));
        }
    }
    // The plan known to fail goes last: guestfish stops at a failure and the plans after it
    // would need a launch of their own.
    let swapped = prepared
        .iter()
        .position(|(_, _, p, _)| p.name == SWAPPED_MOUNT)
        .expect("the reference bundle's swapped mount/umount plan");
    let failing = prepared.remove(swapped);
    prepared.push(failing);
    let repository_plans = prepared.len() - 14;
    eprintln!(
        "{} build plans of bundles-src/ and 14 of the reference bundles",
        repository_plans
    );
    let jobs: Vec<(&Path, &PreparedPlan)> = prepared
        .iter()
        .map(|(i, _, p, _)| (i.as_path(), p))
        .collect();
    let keep = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let report = run::run_jobs(&jobs, Some(keep.path())).unwrap();
    eprintln!(
        "{} build plans: {} launch(es), {:.1} s in guestfish, {:.1} s wall",
        report.plans.len(),
        report.launches,
        report.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.launches, 1, "the failing plan is last: one launch");
    for (n, sum) in &sums {
        assert_eq!(&sha256_file(&fakes.by_os[*n]), sum, "the {n} fake changed");
    }

    let mut captured = Vec::new();
    for (result, (_, os_name, plan, _)) in report.plans.iter().zip(&prepared) {
        if plan.name == SWAPPED_MOUNT {
            // A bug the lab shipped: umount is step 1 and mount the last step.
            let failure = result
                .failure
                .as_ref()
                .expect("the swapped mount/umount plan must fail");
            assert_eq!(
                (failure.serial.as_str(), failure.line),
                ("1", Some(6)),
                "{failure:?}"
            );
            assert!(failure.message.contains("mount"), "{failure:?}");
            assert_eq!(result.steps[0].status, StepStatus::Failed);
            assert!(
                result.steps[1..]
                    .iter()
                    .all(|s| s.status == StepStatus::NotRun)
            );
            continue;
        }
        assert!(
            result.succeeded(),
            "{} failed: {:?}",
            plan.name,
            result.failure
        );
        let changes = result.changes.as_ref().unwrap_or_else(|| {
            panic!(
                "{}: no changes read back: {:?}",
                plan.name, result.readback_note
            )
        });
        assert!(!changes.is_empty(), "{}: no changes", plan.name);
        assert_claims_reported(plan, changes);
        assert!(
            result.steps.iter().any(|s| !s.output.is_empty()),
            "{}: step output missing",
            plan.name
        );
        if plan.capture {
            let (_, _, patterns) = claims(plan);
            assert!(
                !patterns.is_empty(),
                "{}: generalize removes by pattern",
                plan.name
            );
            for must_go in ["/etc/hostname", "/etc/resolv.conf", "/root/.bash_history"] {
                let c = changes
                    .iter()
                    .find(|c| c.path == must_go)
                    .unwrap_or_else(|| panic!("{}: {must_go} not reported", plan.name));
                assert_eq!(c.kind, ChangeKind::Removed, "{}: {must_go}", plan.name);
            }
            // Each fake has the host keys its OS generates (Debian's recipe: ed25519 only).
            assert!(
                changes
                    .iter()
                    .any(|c| c.path.starts_with("/etc/ssh/ssh_host_")
                        && c.path.ends_with("_key")
                        && c.kind == ChangeKind::Removed),
                "{}: no SSH host key reported removed",
                plan.name
            );
            captured.push((result.overlay.clone().unwrap(), os_name.clone()));
        }
    }
    let expected_captures = 3 + repository.len();
    assert_eq!(
        captured.len(),
        expected_captures,
        "one capture plan per bundle"
    );
    // The capture plans remove what the captured-image checks look for.
    // Capture after deploy (#11): each repository deploy plan's result (its kept overlay) is
    // captured by its bundle's capture plan, all in one launch. The captured images must hold
    // none of the secret paths the deploy plans' contracts declare (requirements.toml's
    // captured-phase `absent` checks cover them all: tests/image_requirements.rs), while the
    // deploy-only images fail those checks.
    let mut after: Vec<(PathBuf, &PreparedPlan, String, String)> = Vec::new();
    for (result, (_, os_name, plan, b)) in report.plans.iter().zip(&prepared) {
        if *b < repository.len() && !plan.capture {
            let (_, _, capture, _) = prepared
                .iter()
                .find(|(_, _, p, bb)| bb == b && p.capture)
                .expect("the bundle has a capture plan");
            let overlay = result.overlay.clone().expect("kept");
            after.push((overlay, capture, os_name.clone(), plan.name.clone()));
        }
    }
    assert!(after.len() >= 5, "{} deploy plans", after.len());
    let capture_jobs: Vec<(&Path, &PreparedPlan)> =
        after.iter().map(|(o, p, _, _)| (o.as_path(), *p)).collect();
    let keep_after = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let after_report = run::run_jobs(&capture_jobs, Some(keep_after.path())).unwrap();
    eprintln!(
        "{} capture plans on deployed images: {} launch(es), {:.1} s",
        after_report.plans.len(),
        after_report.launches,
        started.elapsed().as_secs_f64()
    );
    for (r, (_, _, _, deployed)) in after_report.plans.iter().zip(&after) {
        assert!(r.succeeded(), "capture after {deployed}: {:?}", r.failure);
    }

    // One launch checks: capture on the plain fakes, deploy-only images, deploy + capture.
    #[derive(PartialEq)]
    enum Expect {
        Pass,
        LeaksSecrets,
    }
    let mut images: Vec<(PathBuf, String, Expect, String)> = captured
        .iter()
        .map(|(p, o)| {
            (
                p.clone(),
                o.clone(),
                Expect::Pass,
                "capture of the fake".into(),
            )
        })
        .collect();
    let mut leak_checked: Vec<&str> = Vec::new();
    for ((deployed, _, os_name, plan), r) in after.iter().zip(&after_report.plans) {
        // One deploy-only image per OS shows the check finds what capture removes (each more
        // image costs ~6 s in the launch).
        if !leak_checked.contains(&os_name.as_str()) {
            leak_checked.push(os_name);
            images.push((
                deployed.clone(),
                os_name.clone(),
                Expect::LeaksSecrets,
                plan.clone(),
            ));
        }
        images.push((
            r.overlay.clone().expect("kept"),
            os_name.clone(),
            Expect::Pass,
            format!("{plan}, then captured"),
        ));
    }
    let defs: Vec<OsDefinition> = images.iter().map(|(_, o, _, _)| os(o)).collect();
    let jobs: Vec<_> = images
        .iter()
        .zip(&defs)
        .map(|((p, _, _, _), d)| i3s_bundle::image::check::CheckJob {
            image: p.clone(),
            os: d,
            captured: true,
            extra: &[],
        })
        .collect();
    let started = Instant::now();
    let reports = check_many(&jobs).unwrap();
    eprintln!(
        "{} images checked --captured in one launch: {:.1} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    // Each OS a repository bundle uses (debian12 has none until its bundle lands).
    let oses_with_bundles = os_names()
        .iter()
        .filter(|n| repository.iter().any(|(_, o)| o == *n))
        .count();
    assert_eq!(
        leak_checked.len(),
        oses_with_bundles,
        "a deploy-only image of each OS"
    );
    for (report, (_, _, expect, what)) in reports.iter().zip(&images) {
        if *expect == Expect::Pass {
            let failed: Vec<_> = report.results.iter().filter(|r| !r.passed).collect();
            assert!(failed.is_empty(), "{what}: {failed:#?}");
        } else {
            // Every deploy plan installs the Consul agent: its config and token are on disk.
            let consul = report.result("generalized-consul").expect("a secret check");
            assert!(!consul.passed, "{what}: {consul:?}");
            assert!(consul.found.contains("/etc/consul.d"), "{what}: {consul:?}");
            // NetworkManager OSes (#12): the node's keyfiles and the LVM devices file are
            // found on a deployed image and removed by capture (the Pass images above).
            if report.result("generalized-nm-connections").is_some() {
                for id in ["generalized-nm-connections", "generalized-lvm-devices-file"] {
                    let r = report.result(id).unwrap();
                    assert!(!r.passed, "{what}: {id}: {r:?}");
                }
            }
        }
    }
}

fn small_bundle(dir: &Path, scripts: &[(&str, &str)], plans: &[(&str, &[&str])]) -> PathBuf {
    let plan_scripts: Vec<PlanScript> = scripts
        .iter()
        .enumerate()
        .map(|(i, (name, content))| {
            PlanScript::new(
                format!("00000000-0000-4000-8000-{i:012}"),
                name.to_string(),
                String::new(),
                "deploy",
                content.to_string(),
            )
        })
        .collect();
    let build_plans = plans
        .iter()
        .enumerate()
        .map(|(i, (name, steps))| {
            let mut plan = BuildPlan::new(
                format!("00000000-0000-4000-9000-{i:012}"),
                name.to_string(),
                String::new(),
                "deploy",
            );
            for (n, step) in steps.iter().enumerate() {
                plan.steps.push(BuildStep::new(
                    n + 1,
                    plan_scripts.iter().find(|s| s.name == *step).unwrap(),
                ));
            }
            plan
        })
        .collect();
    let bundle = Bundle {
        manifest: Manifest::new(
            "test",
            "test bundle",
            false,
            "2026-11-26T00:00:00.000Z".into(),
        ),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts,
        golden_images: Vec::new(),
        build_plans,
        deployment_plans: Vec::new(),
    };
    let path = dir.join("test.zip");
    bundle::write_bundle(&bundle, &path).unwrap();
    path
}

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn a_failing_step_stops_the_plan_and_is_named_with_its_line() {
    if !have_guestfish() {
        return;
    }
    let _guard = lock();
    let fakes = fakes();
    let dir = tempfile::tempdir().unwrap();
    // A megabyte after the failing line: guestfish exits while the runner is still writing the
    // script, which must be reported, not end the tool with SIGPIPE and no output (#11).
    let bad_path = format!(
        "# a step with a bad path\nupload -<<END /etc/ok\nfine\nEND\nrm /etc/does-not-exist\necho never\nupload -<<END /etc/big\n{}END",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n".repeat(16 * 1024)
    );
    let bundle = small_bundle(
        dir.path(),
        &[
            ("mount", "mount /dev/cl/root /"),
            ("bad path", &bad_path),
            ("unknown", "echo before\n\nfrobnicate /etc\necho never"),
            ("umount", "umount /"),
            // The counter-check of tests/host_escape.rs: what `run` refuses by default really
            // reaches the host when allowed (same launch as "Bad path").
            ("host", "!touch @MARKER@"),
        ],
        &[
            ("Host", &["mount", "host", "umount"]),
            ("Bad path", &["mount", "bad path", "umount"]),
            ("Unknown command", &["mount", "unknown", "umount"]),
        ],
    );
    let marker = dir.path().join("host-marker");
    let before = sha256_file(&fakes.centos);
    let output = assert_cmd::Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args([
            "run",
            bundle.to_str().unwrap(),
            "--all",
            "--allow-host-commands",
            "--image",
            fakes.centos.to_str().unwrap(),
            "--attr",
            &format!("MARKER={}", marker.display()),
        ])
        .output()
        .unwrap();
    assert!(
        marker.exists(),
        "`!touch` under --allow-host-commands ran on the host"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("WARNING: --allow-host-commands"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("FAILED: step 2 bad path (00000000-0000-4000-8000-000000000001_planscript.json line 5): rm: /etc/does-not-exist"),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED: step 2 unknown (00000000-0000-4000-8000-000000000002_planscript.json line 3): frobnicate"), "{stdout}");
    assert!(stdout.contains("step 3 umount: not run"), "{stdout}");
    assert!(!stdout.contains("| never"), "{stdout}");
    assert!(stdout.contains("| before"), "{stdout}");
    assert_eq!(sha256_file(&fakes.centos), before);
}

#[test]
fn an_unterminated_here_document_and_a_missing_value_stop_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = small_bundle(
        dir.path(),
        &[
            ("mount", "mount /dev/cl/root /"),
            ("open heredoc", "upload -<<END /etc/x\nno terminator\nEOF"),
            (
                "needs value",
                "upload -<<END /etc/hostname\n@SERVER_FQDN@\nEND",
            ),
        ],
        &[
            ("Open", &["mount", "open heredoc"]),
            ("Value", &["mount", "needs value"]),
        ],
    );
    // The image does not even exist: nothing may get as far as looking at it.
    for (plan, expected) in [
        (
            "Open",
            "00000000-0000-4000-8000-000000000001_planscript.json:1:9: step 2 (open heredoc): here-document `END` is never closed",
        ),
        (
            "Value",
            "00000000-0000-4000-8000-000000000002_planscript.json:2:1: @SERVER_FQDN@ (step 2 needs value)",
        ),
    ] {
        let output = assert_cmd::Command::cargo_bin("i3s-bundle")
            .unwrap()
            .args([
                "run",
                bundle.to_str().unwrap(),
                plan,
                "--image",
                "/nonexistent/disk.img",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{plan}: {stderr}");
        assert!(stderr.contains("nothing was run"), "{stderr}");
    }
}

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn an_image_missing_a_path_the_plans_need_fails_check_bundle_and_run_all_reports_every_plan() {
    if !have_guestfish() {
        return;
    }
    let _guard = lock();
    let dist = tempfile::tempdir().unwrap();
    let (bundle, _) = repository_bundles(dist.path())
        .into_iter()
        .find(|(_, os)| os == "centos7.4")
        .expect("a CentOS bundle");
    // The check test's copy without /etc/sysctl.d (made once, in the launch that breaks them all).
    let started = Instant::now();
    let broken = broken().image("c-no-sysctl-d").to_path_buf();
    let modify_secs = started.elapsed().as_secs_f64();

    // `golden-image check --bundle`: the derived need fails, naming the path and the plans.
    let started = Instant::now();
    let output = assert_cmd::Command::cargo_bin("i3s-bundle")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["golden-image", "check"])
        .arg(&broken)
        .args(["--os", "centos7.4", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    let check_secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("need:/etc/sysctl.d"))
        .unwrap_or_else(|| panic!("no need:/etc/sysctl.d line:\n{stdout}"));
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        line.contains("\"i3s-bundle - CentOS 7.4 - Docker CE\" step 7")
            && line.contains("upload -<<END /etc/sysctl.d/40-ipv6.conf")
            && line.contains("found: /etc/sysctl.d does not exist"),
        "{line}"
    );
    let failing: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(
        failing.len(),
        2,
        "only sysctl-d and its need fail: {failing:#?}"
    );

    // `run --all --json` on it: every plan is reported — ran, or failed at a step and line with
    // the steps after it not run — never a silent death.
    let started = Instant::now();
    let output = assert_cmd::Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["run"])
        .arg(&bundle)
        .args(["--all", "--sample-attrs", "--json", "--image"])
        .arg(&broken)
        .output()
        .unwrap();
    let run_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::common::assert_schema("run", &report);
    let loaded = read_bundle(&bundle, &ReadOptions::default()).unwrap();
    let names: Vec<&str> = report["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plan"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = loaded
        .bundle
        .build_plans
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, expected, "every plan, in order");
    let mut failed = 0;
    for plan in report["plans"].as_array().unwrap() {
        let name = plan["plan"].as_str().unwrap();
        let statuses: Vec<&str> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        if plan["capture"].as_bool().unwrap() {
            assert!(plan["failure"].is_null(), "{name}: {plan}");
            assert!(statuses.iter().all(|s| *s == "ok"), "{name}: {statuses:?}");
            continue;
        }
        let failure = &plan["failure"];
        assert_eq!(failure["serial"], "7", "{name}: {failure}");
        assert!(failure["line"].as_u64().is_some(), "{name}: {failure}");
        assert!(
            failure["command"]
                .as_str()
                .unwrap_or_default()
                .contains("/etc/sysctl.d/40-ipv6.conf"),
            "{name}: {failure}"
        );
        let at = statuses.iter().position(|s| *s == "failed").unwrap();
        assert_eq!(at, 6, "{name}: {statuses:?}");
        assert!(
            statuses[..at].iter().all(|s| *s == "ok"),
            "{name}: {statuses:?}"
        );
        assert!(
            statuses[at + 1..].iter().all(|s| *s == "not_run"),
            "{name}: {statuses:?}"
        );
        failed += 1;
    }
    assert_eq!(failed, expected.len() - 1, "every deploy plan fails");
    eprintln!(
        "no /etc/sysctl.d: broken copies ready after {modify_secs:.1} s, check --bundle {check_secs:.1} s, run --all {run_secs:.1} s ({} launches)",
        report["launches"]
    );
}
