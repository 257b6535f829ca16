//! `run --boot`: boot what a plan produced under real systemd and report its first-boot units.
//!
//! - **Export.** The root file system is read from the plan's overlay in one read-only guestfish
//!   launch (`tar-out` with numeric owners and xattrs) and unpacked into a temporary directory
//!   (removed afterwards unless kept). The input image is only ever a qcow2 backing file.
//! - **Which units.** The units the plan linked into a `*.wants/` or `*.requires/` directory of
//!   /etc/systemd/system (its read-back changes); without a read-back, the units in
//!   `runlast.target.wants` of the exported tree (templates/_lib/systemd.j2's `firstboot`).
//! - **Skipped units.** Units the capabilities' contracts declare in `boot_skip` (they need NICs,
//!   multipath disks, a hypervisor) get a stand-in in the copy: a drop-in replaces what the unit
//!   runs with writing its done-stamp ([`DONE_STAMP_DIR`]), so the units ordered after it run and
//!   node-status judges the node as if it had succeeded; the report says "not exercised: <why>",
//!   never "succeeded". (A unit other than a service is masked instead.)
//! - **Boot.** `systemd-nspawn --boot` with systemd as PID 1, in a private mount namespace (see
//!   [`nspawn_command`]). A collector unit added to the copy, ordered after the default target
//!   and every first-boot unit, writes `systemctl show` of the units and the boot's journal into a
//!   bind-mounted directory, then powers the container off (`SuccessAction=`/`FailureAction=`).
//! - **Journal.** Each unit's journal tail comes from the container's persistent journal, read
//!   after it stopped (journald stores everything before it stops).
//! - **Timeout.** Past the bound the container is asked to power off (SIGTERM to nspawn), then
//!   killed; the units are then judged from that journal up to the moment of the timeout, never
//!   from the collector (which a shutdown may still start).
use super::listing::{Change, ChangeKind, FileType};
use crate::error::{Error, Result};
use crate::guestfish::driver::{self, DiskFormat, Drive};
use crate::source::contract::is_unit_name;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where the collector writes inside the container (bind-mounted from the host).
const OUT_IN_CONTAINER: &str = "/run/i3s-boot";
/// The collector unit added to the exported copy.
const COLLECTOR: &str = "i3s-boot-collect.service";
/// Journal lines shown per unit.
const JOURNAL_TAIL: usize = 20;
/// Where first-boot units leave their done-stamps: templates/_lib/systemd.j2's `firstboot`
/// ends each unit's script with `touch <dir>/<name>.done`, and node-status counts a unit as
/// succeeded only with it (content_render checks the template still says so).
pub const DONE_STAMP_DIR: &str = "/var/lib/node-status";
/// The drop-in that replaces a not-exercised unit's work with its done-stamp.
const STAND_IN: &str = "i3s-boot-stand-in.conf";
/// How long a container gets to power off after the timeout before it is killed.
const GRACE: Duration = Duration::from_secs(15);
/// `systemctl show` properties the report is made of (systemd.exec(5), systemd.service(5),
/// org.freedesktop.systemd1(5): `ExecMainStartTimestampMonotonic` is 0 for a service that never
/// started, `ConditionTimestampMonotonic` 0 for a unit whose conditions were never checked).
const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ConditionResult,ConditionTimestampMonotonic,Requires,Requisite,BindsTo,DropInPaths";

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// The bound on one boot (from starting the container to its power-off).
    pub timeout: Duration,
    /// Unit → why it cannot run in a container (contracts' `boot_skip`, `--boot-skip`).
    pub skip: BTreeMap<String, String>,
    /// More systemd-nspawn options (`--private-network`, `--bind=…`); by default the container
    /// shares the host's network (a Consul agent on 127.0.0.1:8500 is the host's).
    pub nspawn_args: Vec<String>,
    /// Keep the exported trees, the collector's output and the console log here.
    pub keep: Option<PathBuf>,
    /// Set from elsewhere to end a boot early (a simulated machine powered off): the container
    /// is asked to power off, like at the timeout, and the boot is reported `powered-off`.
    pub stop: Option<Arc<AtomicBool>>,
}

/// A plan's result to boot.
#[derive(Debug, Clone)]
pub struct Bootable<'a> {
    /// The plan's name (names the kept files).
    pub plan: &'a str,
    /// The plan's read-back changes to the root file system, when they could be read.
    pub changes: Option<&'a [Change]>,
    /// The plan's overlay (the result of the plan).
    pub overlay: &'a Path,
    /// The device the plan mounts at `/`.
    pub root_device: &'a str,
    /// Unit → why it is not exercised (the contracts of this plan's steps, plus `--boot-skip`).
    pub skip: BTreeMap<String, String>,
}

/// What became of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum UnitStatus {
    /// Ran and ended with success (active/exited, or inactive after a clean exit).
    Succeeded,
    /// Running (a long-running service the plan enabled).
    Running,
    Failed {
        result: String,
    },
    /// Declared by a contract as impossible in a container: its stand-in ran instead (or it
    /// was masked); its own work never ran.
    NotExercised {
        reason: String,
    },
    /// Never started; `because` says which dependency kept it from running, when one did.
    NotRun {
        because: String,
    },
    /// Started, but a condition was not met (e.g. its done-stamp already existed).
    ConditionFailed,
    /// Still starting when the results were taken (the boot timed out, or nothing orders it).
    Unfinished {
        state: String,
    },
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnitReport {
    pub unit: String,
    #[serde(flatten)]
    pub status: UnitStatus,
    /// The main process's exit status, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// For a unit that ran after a required unit's stand-in (not exercised): its result was
    /// reached without that unit having done its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The unit's last journal lines (its own output and systemd's messages about it).
    pub journal: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BootOutcome {
    /// The collector ran after every unit and powered the container off.
    Finished,
    /// The bound passed first; units were judged from the journal up to that moment.
    TimedOut,
    /// Stopped from outside ([`BootOptions::stop`]) before it finished; judged like a timeout.
    PoweredOff,
}

/// One boot of one plan's result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BootReport {
    pub outcome: BootOutcome,
    pub units: Vec<UnitReport>,
    /// Seconds.
    #[serde(serialize_with = "secs")]
    #[schemars(with = "f64")]
    pub elapsed: Duration,
    /// The kept tree and output (with `--keep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl BootReport {
    /// The units that failed or never finished, then those that never ran for no declared
    /// reason (the first ones are the causes).
    pub fn failed(&self) -> Vec<&str> {
        let causes = self.units.iter().filter(|u| {
            matches!(
                u.status,
                UnitStatus::Failed { .. } | UnitStatus::Unfinished { .. }
            )
        });
        let consequences = self.units.iter().filter(|u| {
            matches!(&u.status, UnitStatus::NotRun { because } if !because.contains("not exercised"))
        });
        causes
            .chain(consequences)
            .map(|u| u.unit.as_str())
            .collect()
    }
    /// Whether every unit that was exercised succeeded (or runs) and the boot finished in time.
    pub fn succeeded(&self) -> bool {
        self.outcome == BootOutcome::Finished && self.failed().is_empty()
    }
}

/// Refuses to start when the boot cannot work here: not root, or a tool missing.
pub fn check_environment() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Usage(
            "--boot runs systemd-nspawn, which needs root: run as root (or leave out --boot)"
                .into(),
        ));
    }
    for (tool, package) in [
        ("systemd-nspawn", "systemd-container"),
        ("unshare", "util-linux"),
        ("tar", "tar"),
        ("journalctl", "systemd"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(Error::Usage(format!(
                "--boot needs {tool}: install {package} (apt-get install {package})"
            )));
        }
    }
    Ok(())
}

/// Exports each plan's root file system, boots it, and reports its units, in plan order.
pub fn boot_plans(items: &[Bootable<'_>], options: &BootOptions) -> Result<Vec<BootReport>> {
    let temp = tempfile::Builder::new()
        .prefix("i3s-boot-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let work = match &options.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?
        }
        None => temp.path().to_path_buf(),
    };
    let dirs: Vec<PathBuf> = items
        .iter()
        .enumerate()
        .map(|(i, item)| work.join(format!("boot-{:02}-{}", i + 1, file_safe(item.plan))))
        .collect();
    let tars: Vec<PathBuf> = dirs.iter().map(|d| d.with_extension("tar")).collect();
    let jobs: Vec<(&Path, &str, &Path)> = items
        .iter()
        .zip(&tars)
        .map(|(item, tar)| (item.overlay, item.root_device, tar.as_path()))
        .collect();
    export_roots(&jobs)?;
    let mut reports = Vec::new();
    for ((item, dir), tar) in items.iter().zip(&dirs).zip(&tars) {
        let tree = dir.join("root");
        let out = dir.join("out");
        unpack(tar, &tree)?;
        let _ = std::fs::remove_file(tar);
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        let units = first_boot_units(item.changes, &tree);
        let mut report = boot_tree(&tree, &out, &units, &item.skip, options)?;
        if options.keep.is_some() {
            report.kept = Some(dir.clone());
        } else {
            // A tree of a whole OS: free the space before the next boot.
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        reports.push(report);
    }
    Ok(reports)
}

/// Exports one overlay's root file system into `tree` (one read-only guestfish launch).
pub fn export_tree(overlay: &Path, root_device: &str, tree: &Path) -> Result<()> {
    let tar = tree.with_extension("tar");
    export_roots(&[(overlay, root_device, &tar)])?;
    unpack(&tar, tree)?;
    std::fs::remove_file(&tar).map_err(|e| Error::io(&tar, e))
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `tar-out` of each overlay's root device, all in one read-only guestfish launch
/// (`lvm-set-filter` shows one disk's LVM at a time: overlays of one image share VG names).
pub fn export_roots(jobs: &[(&Path, &str, &Path)]) -> Result<()> {
    let mut script = String::from("run\n");
    for (j, (_, root, tar)) in jobs.iter().enumerate() {
        if jobs.len() > 1 {
            script.push_str(&format!("lvm-set-filter {}\n", driver::device_name(j)));
        }
        // guestfish(1) tar-out: numericowner keeps uid/gid as numbers (the tree is booted, not
        // read by this host's users), xattrs/acls keep capabilities and ACLs.
        script.push_str(&format!(
            "mount-ro {} /\ntar-out / {} numericowner:true xattrs:true acls:true\numount-all\n",
            driver::quote(root),
            driver::quote(&tar.display().to_string())
        ));
    }
    let drives: Vec<Drive> = jobs
        .iter()
        .map(|(overlay, _, _)| Drive {
            path: overlay.to_path_buf(),
            format: DiskFormat::Qcow2,
            read_only: true,
        })
        .collect();
    let outcome = driver::run_script(&drives, &script)?;
    if !outcome.success {
        return Err(Error::other(format!(
            "could not export the root file system for --boot: {}",
            outcome.stderr.trim()
        )));
    }
    Ok(())
}

/// Unpacks a tar made by `tar-out` (or the run's changes tar) into `tree`, as root keeps them:
/// numeric owners, modes, xattrs, ACLs.
pub fn unpack(tar: &Path, tree: &Path) -> Result<()> {
    std::fs::create_dir_all(tree).map_err(|e| Error::io(tree, e))?;
    let output = Command::new("tar")
        .args([
            "-x",
            "-p",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--acls",
            "-f",
        ])
        .arg(tar)
        .arg("-C")
        .arg(tree)
        .output()
        .map_err(|e| Error::other(format!("cannot run tar: {e}")))?;
    if !output.status.success() {
        return Err(Error::other(format!(
            "unpacking {}: {}",
            tar.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// The units the plan installed for the boot: linked into a `.wants/`/`.requires/` directory of
/// /etc/systemd/system by the plan (its read-back changes), in path order without repeats. Without
/// a read-back, the `runlast.target.wants` links of the exported tree.
pub fn first_boot_units(changes: Option<&[Change]>, tree: &Path) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if is_unit_name(name) && name != COLLECTOR && !units.iter().any(|u| u == name) {
            units.push(name.to_string());
        }
    };
    match changes {
        Some(changes) => {
            for change in changes {
                if change.kind == ChangeKind::Removed || change.file_type != FileType::Symlink {
                    continue;
                }
                let Some(rest) = change.path.strip_prefix("/etc/systemd/system/") else {
                    continue;
                };
                if let Some((dir, name)) = rest.split_once('/')
                    && (dir.ends_with(".wants") || dir.ends_with(".requires"))
                    && !name.contains('/')
                {
                    add(name);
                }
            }
        }
        None => {
            let dir = tree.join("etc/systemd/system/runlast.target.wants");
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in &names {
                add(name);
            }
        }
    }
    units
}

/// Boots `tree` (an exported root file system, changed here: stand-ins and the collector are
/// added) and judges `units`. `out` receives the collector's files and the console log. Booting
/// the same tree again is a reboot: what the last boot left (done-stamps, state) is kept.
pub fn boot_tree(
    tree: &Path,
    out: &Path,
    units: &[String],
    skip: &BTreeMap<String, String>,
    options: &BootOptions,
) -> Result<BootReport> {
    let started = Instant::now();
    if units.is_empty() {
        return Ok(BootReport {
            outcome: BootOutcome::Finished,
            units: Vec::new(),
            elapsed: started.elapsed(),
            kept: None,
        });
    }
    let journal_dir = prepare_tree(tree, out, units, skip)?;
    let console = out.join("console.log");
    let (child, started_at) = spawn(tree, out, &console, options)?;
    let (status, timed_out_at, powered_off) = wait(child, started, options)?;
    // The container's own journal, read after it stopped: journald writes everything the units
    // logged before it stops at power-off (the collector's dump may miss lines journald had not
    // read yet: systemd/systemd#32539). The collector's dump is the fallback.
    let booted = started_at;
    let until = timed_out_at.unwrap_or_else(SystemTime::now);
    let mut entries = read_persistent_journal(&journal_dir, booted, until);
    let mut report = match timed_out_at {
        Some(_) => BootReport {
            outcome: if powered_off {
                BootOutcome::PoweredOff
            } else {
                BootOutcome::TimedOut
            },
            units: judge_from_journal(units, skip, &entries),
            elapsed: started.elapsed(),
            kept: None,
        },
        None => {
            let Ok(shown) = std::fs::read_to_string(out.join("units")) else {
                return Err(Error::other(format!(
                    "the container ended ({status}) before the results were collected; its console:\n{}",
                    tail(&std::fs::read_to_string(&console).unwrap_or_default(), 30)
                )));
            };
            if entries.is_empty() {
                let dump = std::fs::read_to_string(out.join("journal.json")).unwrap_or_default();
                entries = parse_journal(&dump);
            }
            BootReport {
                outcome: BootOutcome::Finished,
                units: judge(units, skip, &parse_show(&shown), &entries),
                elapsed: started.elapsed(),
                kept: None,
            }
        }
    };
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Readies the tree for a boot: stand-ins for the skipped units, the collector, a persistent
/// journal; removes the previous boot's results. Returns the journal's directory.
fn prepare_tree(
    tree: &Path,
    out: &Path,
    units: &[String],
    skip: &BTreeMap<String, String>,
) -> Result<PathBuf> {
    let system = tree.join("etc/systemd/system");
    for unit in skip.keys() {
        stand_in(&system, unit)?;
    }
    // The previous boot's results (a reboot) must not be taken for this one's.
    for file in ["units", "journal.json", "console.log"] {
        let _ = std::fs::remove_file(out.join(file));
    }
    install_collector(tree, units)?;
    // journald keeps the journal on disk when /var/log/journal exists (journald.conf(5),
    // Storage=auto): what a timed-out boot is judged by.
    let journal_dir = tree.join("var/log/journal");
    std::fs::create_dir_all(&journal_dir).map_err(|e| Error::io(&journal_dir, e))?;
    Ok(journal_dir)
}

/// Starts systemd-nspawn on the tree in its own process group, its console going to `console`;
/// the child and when it started.
fn spawn(
    tree: &Path,
    out: &Path,
    console: &Path,
    options: &BootOptions,
) -> Result<(std::process::Child, SystemTime)> {
    let console_file = std::fs::File::create(console).map_err(|e| Error::io(console, e))?;
    let console_err = console_file
        .try_clone()
        .map_err(|e| Error::io(console, e))?;
    let mut command = nspawn_command(tree, out, &options.nspawn_args);
    command
        .stdin(Stdio::null())
        .stdout(console_file)
        .stderr(console_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started_at = SystemTime::now();
    let child = command
        .spawn()
        .map_err(|e| Error::other(format!("cannot start systemd-nspawn: {e}")))?;
    Ok((child, started_at))
}

/// Waits for the container to stop: at the deadline (or when told to stop) it gets SIGTERM,
/// then SIGKILL after a grace period. Returns its status, when it was timed out (or stopped),
/// and whether it was stopped before the deadline (powered off).
fn wait(
    mut child: std::process::Child,
    started: Instant,
    options: &BootOptions,
) -> Result<(std::process::ExitStatus, Option<SystemTime>, bool)> {
    let mut deadline = started + options.timeout;
    let mut timed_out_at: Option<SystemTime> = None;
    let stopped = || {
        options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    };
    let mut powered_off = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::other(format!("systemd-nspawn: {e}")))?
        {
            break status;
        }
        let now = Instant::now();
        if timed_out_at.is_none() && (now >= deadline || stopped()) {
            powered_off = now < deadline;
            deadline = now;
            timed_out_at = Some(SystemTime::now());
            signal(child.id(), libc::SIGTERM);
        } else if timed_out_at.is_some() && now >= deadline + GRACE {
            signal(child.id(), libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok((status, timed_out_at, powered_off))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's process group (spawned with process_group(0), so its
    // group id is its pid); a stale id only makes kill fail with ESRCH.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// The systemd-nspawn command line.
///
/// - `--boot`: run the tree's init (systemd) as PID 1 (systemd-nspawn(1)).
/// - `--register=no --keep-unit`: no machined registration and no scope unit (systemd-nspawn(1);
///   systemd/systemd#6166: "--register=no --keep-unit → do not allocate nor register anything"):
///   the host's PID 1 need not be systemd, and there may be no system bus.
/// - `--console=read-only`: the container's console goes to our stdout without a terminal.
/// - `--bind`: the collector's output directory.
///
/// nspawn refuses to work when /run/systemd/nspawn is not on tmpfs (it would remove "disk file
/// system" files under its propagate/ directory): `unshare -m` gives it a private mount namespace
/// (private propagation, util-linux unshare(1)'s default) with a tmpfs there; the host's mounts are
/// not changed.
pub fn nspawn_command(tree: &Path, out: &Path, extra: &[String]) -> Command {
    let mut command = Command::new("unshare");
    command
        .args([
            "-m",
            "sh",
            "-c",
            "mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec \"$@\"",
            "sh",
            "systemd-nspawn",
            "-q",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
        ])
        .arg(format!("--directory={}", tree.display()))
        .arg(format!("--bind={}:{OUT_IN_CONTAINER}", out.display()))
        .args(extra);
    command
}

/// A stand-in for a not-exercised service: a drop-in (systemd.unit(5), "<unit>.d/*.conf") that
/// empties `ExecStartPre=`/`ExecStartPost=` and replaces `ExecStart=` (an empty assignment resets
/// the list, systemd.service(5)) with writing the unit's done-stamp. Its conditions still apply,
/// so on a reboot it is skipped like the unit would be. Any other kind of unit is masked.
fn stand_in(system: &Path, unit: &str) -> Result<()> {
    let Some(name) = unit.strip_suffix(".service") else {
        return mask(system, unit);
    };
    let dir = system.join(format!("{unit}.d"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(STAND_IN);
    let text = format!(
        "# i3s-bundle run --boot: {unit} cannot run in a container (its capability's boot_skip).
         [Service]
ExecStartPre=
ExecStartPost=
ExecStart=
         ExecStart=/bin/sh -c 'echo \"not exercised in this container: its done-stamp stands in for it\"; mkdir -p {DONE_STAMP_DIR} && touch {DONE_STAMP_DIR}/{name}.done'
"
    );
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// Masks `unit` in the copy: /etc/systemd/system/<unit> → /dev/null (systemctl(1) `mask`), which
/// replaces a unit file the plan wrote there.
fn mask(system: &Path, unit: &str) -> Result<()> {
    std::fs::create_dir_all(system).map_err(|e| Error::io(system, e))?;
    let path = system.join(unit);
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    std::os::unix::fs::symlink("/dev/null", &path).map_err(|e| Error::io(&path, e))
}

/// The collector unit and its script.
///
/// Ordering: `After=` the default target and every unit; `DefaultDependencies=no`, so that being
/// wanted by multi-user.target does not order that target after it (systemd.target(5), "Default
/// Dependencies"; systemd/systemd#7113). `Conflicts=shutdown.target`: a shutdown cancels it
/// instead of running it on a half-stopped system. `SuccessAction=`/`FailureAction=poweroff`
/// (systemd.unit(5)) end the boot either way. `journalctl --sync` first: journald stores what
/// the units logged asynchronously, and --sync returns once everything logged before it is
/// stored (journalctl(1)).
fn install_collector(tree: &Path, units: &[String]) -> Result<()> {
    let system = tree.join("etc/systemd/system");
    let wants = system.join("multi-user.target.wants");
    std::fs::create_dir_all(&wants).map_err(|e| Error::io(&wants, e))?;
    let list = units.join(" ");
    let unit = format!(
        "[Unit]\nDescription=i3s-bundle run --boot: collect the first-boot units' results\n\
         DefaultDependencies=no\nAfter=default.target multi-user.target {list}\n\
         Conflicts=shutdown.target\nBefore=shutdown.target\n\
         SuccessAction=poweroff\nFailureAction=poweroff\n\n\
         [Service]\nType=oneshot\n\
         ExecStart=/bin/sh -c 'systemctl show -p {PROPERTIES} -- {list} > {OUT_IN_CONTAINER}/units.part && journalctl --sync && journalctl -b -o json --no-pager > {OUT_IN_CONTAINER}/journal.part && mv {OUT_IN_CONTAINER}/journal.part {OUT_IN_CONTAINER}/journal.json && mv {OUT_IN_CONTAINER}/units.part {OUT_IN_CONTAINER}/units'\n"
    );
    let path = system.join(COLLECTOR);
    std::fs::write(&path, unit).map_err(|e| Error::io(&path, e))?;
    let link = wants.join(COLLECTOR);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{COLLECTOR}"), &link)
        .map_err(|e| Error::io(&link, e))
}

/// `systemctl show` output: blocks of `Key=Value` lines separated by blank lines, by `Id`.
fn parse_show(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut units = BTreeMap::new();
    for block in text.split("\n\n") {
        let props: BTreeMap<String, String> = block
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(id) = props.get("Id") {
            units.insert(id.clone(), props);
        }
    }
    units
}

/// One journal entry, the fields we use.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The unit whose process logged it (`_SYSTEMD_UNIT`).
    source: Option<String>,
    /// The unit systemd's message is about (`UNIT`).
    about: Option<String>,
    /// `JOB_RESULT` of systemd's job-finished messages (done, failed, dependency, skipped, …).
    job_result: Option<String>,
    realtime_us: u64,
    identifier: String,
    message: String,
}

/// `journalctl -o json` output (one object per line; journalctl(1): fields that are not valid
/// UTF-8 come as arrays of bytes).
fn parse_journal(text: &str) -> Vec<Entry> {
    let field = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(bytes) => Some(
                String::from_utf8_lossy(
                    &bytes
                        .iter()
                        .filter_map(|b| b.as_u64().map(|b| b as u8))
                        .collect::<Vec<u8>>(),
                )
                .into_owned(),
            ),
            _ => None,
        }
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Entry {
            source: v.get("_SYSTEMD_UNIT").and_then(field),
            about: v.get("UNIT").and_then(field),
            job_result: v.get("JOB_RESULT").and_then(field),
            realtime_us: v
                .get("__REALTIME_TIMESTAMP")
                .and_then(field)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            identifier: v
                .get("SYSLOG_IDENTIFIER")
                .and_then(field)
                .unwrap_or_default(),
            message: v.get("MESSAGE").and_then(field).unwrap_or_default(),
        })
        .collect()
}

/// The container's persistent journal between `since` and `until` (read by the host's
/// journalctl; an image may carry the journal of earlier boots).
fn read_persistent_journal(dir: &Path, since: SystemTime, until: SystemTime) -> Vec<Entry> {
    let micros = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    };
    let (since_us, until_us) = (micros(since), micros(until));
    let output = Command::new("journalctl")
        .arg("-D")
        .arg(dir)
        .args(["-o", "json", "--no-pager"])
        .output();
    let text = output
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    parse_journal(&text)
        .into_iter()
        .filter(|e| (since_us..=until_us).contains(&e.realtime_us))
        .collect()
}

fn journal_of(unit: &str, entries: &[Entry]) -> Vec<String> {
    let lines: Vec<String> = entries
        .iter()
        .filter(|e| e.source.as_deref() == Some(unit) || e.about.as_deref() == Some(unit))
        .map(|e| format!("{}: {}", e.identifier, e.message))
        .collect();
    lines[lines.len().saturating_sub(JOURNAL_TAIL)..].to_vec()
}

/// The units' fate from the collector's `systemctl show`.
fn judge(
    units: &[String],
    skip: &BTreeMap<String, String>,
    shown: &BTreeMap<String, BTreeMap<String, String>>,
    entries: &[Entry],
) -> Vec<UnitReport> {
    let mut reports: Vec<UnitReport> = Vec::new();
    let empty = BTreeMap::new();
    for unit in units {
        let props = shown.get(unit).unwrap_or(&empty);
        let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
        let ran = get("ExecMainStartTimestampMonotonic")
            .parse::<u64>()
            .unwrap_or(0)
            > 0;
        let exit_status = ran.then(|| get("ExecMainStatus").parse().ok()).flatten();
        // Not exercised only when the stand-in (or mask) held: a declared unit whose own work
        // ran is judged like any other, and so is a stand-in that failed.
        let stood_in = get("LoadState") == "masked" || get("DropInPaths").contains(STAND_IN);
        let status = shown_status(props, ran, exit_status, skip.get(unit));
        let status = match (skip.get(unit), status) {
            (Some(reason), UnitStatus::Succeeded | UnitStatus::ConditionFailed) if stood_in => {
                UnitStatus::NotExercised {
                    reason: reason.clone(),
                }
            }
            (_, status) => status,
        };
        let started = !matches!(
            status,
            UnitStatus::NotExercised { .. } | UnitStatus::NotRun { .. }
        );
        let note = match skip.get(unit) {
            Some(reason) if !stood_in => Some(format!(
                "declared not exercised ({reason}), but its stand-in did not hold: LoadState={}, DropInPaths={}",
                get("LoadState"),
                get("DropInPaths")
            )),
            Some(_) if matches!(status, UnitStatus::Failed { .. }) => {
                Some("its stand-in (writing the done-stamp) failed".to_string())
            }
            Some(_) => None,
            None => required(props)
                .into_iter()
                .find(|dep| started && skip.contains_key(*dep))
                .map(|dep| format!("ran after {dep}'s stand-in: {dep} was not exercised")),
        };
        reports.push(UnitReport {
            unit: unit.clone(),
            status,
            exit_status,
            note,
            journal: journal_of(unit, entries),
        });
    }
    explain_not_run(&mut reports, skip, shown);
    reports
}

/// A unit's status from its `systemctl show` properties, before stand-ins are accounted for.
fn shown_status(
    props: &BTreeMap<String, String>,
    ran: bool,
    exit_status: Option<i32>,
    skip_reason: Option<&String>,
) -> UnitStatus {
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
    if get("LoadState") == "masked" {
        UnitStatus::NotExercised {
            reason: skip_reason.cloned().unwrap_or_default(),
        }
    } else if get("LoadState") != "loaded" {
        UnitStatus::Failed {
            result: format!("unit not loaded ({})", get("LoadState")),
        }
    } else if get("ActiveState") == "failed" || !matches!(get("Result"), "success" | "") {
        UnitStatus::Failed {
            result: get("Result").to_string(),
        }
    } else if matches!(
        get("ActiveState"),
        "activating" | "deactivating" | "reloading"
    ) {
        UnitStatus::Unfinished {
            state: format!("{} ({})", get("ActiveState"), get("SubState")),
        }
    } else if get("ActiveState") == "active" && get("SubState") == "running" {
        UnitStatus::Running
    } else if get("ActiveState") == "active" || (ran && exit_status == Some(0)) {
        UnitStatus::Succeeded
    } else if get("ConditionTimestampMonotonic")
        .parse::<u64>()
        .unwrap_or(0)
        > 0
        && get("ConditionResult") == "no"
    {
        UnitStatus::ConditionFailed
    } else {
        UnitStatus::NotRun {
            because: String::new(),
        }
    }
}

/// The units a unit cannot do without (`Requires=`, `Requisite=`, `BindsTo=`).
fn required(props: &BTreeMap<String, String>) -> Vec<&str> {
    ["Requires", "Requisite", "BindsTo"]
        .iter()
        .filter_map(|k| props.get(*k))
        .flat_map(|v| v.split_whitespace())
        .collect()
}

/// Says, for each unit that never ran, which of its required units kept it from running.
fn explain_not_run(
    reports: &mut [UnitReport],
    skip: &BTreeMap<String, String>,
    shown: &BTreeMap<String, BTreeMap<String, String>>,
) {
    let fate: BTreeMap<String, UnitStatus> = reports
        .iter()
        .map(|r| (r.unit.clone(), r.status.clone()))
        .collect();
    for report in reports.iter_mut() {
        let UnitStatus::NotRun { because } = &mut report.status else {
            continue;
        };
        let empty = BTreeMap::new();
        let props = shown.get(&report.unit).unwrap_or(&empty);
        // What became of the dependency decides; a declared skip only when its mask held (or it
        // is not one of the watched units).
        let reason =
            required(props)
                .iter()
                .find_map(|dep| match (fate.get(*dep), skip.get(*dep)) {
                    (Some(UnitStatus::Failed { .. }), _) => {
                        Some(format!("it requires {dep}, which failed"))
                    }
                    (Some(UnitStatus::NotRun { .. }), _) => {
                        Some(format!("it requires {dep}, which did not run"))
                    }
                    (Some(UnitStatus::NotExercised { .. }) | None, Some(why)) => Some(format!(
                        "it requires {dep}, which was not exercised ({why})"
                    )),
                    _ => None,
                });
        *because = reason.unwrap_or_else(|| {
            "it never started (nothing pulled it in, or its start job was dropped)".to_string()
        });
    }
}

/// The units' fate from the journal alone (a timed-out boot): systemd's job-finished messages
/// carry `JOB_RESULT` (done, failed, dependency, skipped, …; org.freedesktop.systemd1(5),
/// `JobRemoved`'s result).
fn judge_from_journal(
    units: &[String],
    skip: &BTreeMap<String, String>,
    entries: &[Entry],
) -> Vec<UnitReport> {
    units
        .iter()
        .map(|unit| {
            let about: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.about.as_deref() == Some(unit.as_str()))
                .collect();
            let result = about.iter().rev().find_map(|e| e.job_result.as_deref());
            let status = if let Some(reason) = skip.get(unit) {
                UnitStatus::NotExercised {
                    reason: reason.clone(),
                }
            } else {
                match result {
                    Some("done") => UnitStatus::Succeeded,
                    Some("skipped") => UnitStatus::ConditionFailed,
                    Some("dependency") => UnitStatus::NotRun {
                        because: "a unit it requires failed".into(),
                    },
                    Some(other) => UnitStatus::Failed {
                        result: other.to_string(),
                    },
                    None if !about.is_empty() => UnitStatus::Unfinished {
                        state: "still running when the boot timed out".into(),
                    },
                    None => UnitStatus::NotRun {
                        because: "not started before the boot timed out".into(),
                    },
                }
            };
            UnitReport {
                unit: unit.clone(),
                status,
                exit_status: None,
                note: None,
                journal: journal_of(unit, entries),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::run::PlanReport;

    fn show(blocks: &[&[(&str, &str)]]) -> BTreeMap<String, BTreeMap<String, String>> {
        let text: Vec<String> = blocks
            .iter()
            .map(|b| {
                b.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        parse_show(&text.join("\n\n"))
    }

    #[test]
    fn judges_each_state_and_explains_what_never_ran() {
        let loaded = [("LoadState", "loaded")];
        let shown = show(&[
            &[
                loaded[0],
                ("Id", "ok.service"),
                ("ActiveState", "active"),
                ("SubState", "exited"),
                ("Result", "success"),
                ("ExecMainStartTimestampMonotonic", "5"),
                ("ExecMainStatus", "0"),
            ],
            &[
                loaded[0],
                ("Id", "bad.service"),
                ("ActiveState", "failed"),
                ("Result", "exit-code"),
                ("ExecMainStartTimestampMonotonic", "5"),
                ("ExecMainStatus", "3"),
            ],
            &[
                loaded[0],
                ("Id", "after-bad.service"),
                ("ActiveState", "inactive"),
                ("Result", "success"),
                ("ExecMainStartTimestampMonotonic", "0"),
                ("Requires", "bad.service"),
            ],
            &[
                loaded[0],
                ("Id", "after-bond.service"),
                ("ActiveState", "inactive"),
                ("Result", "success"),
                ("Requires", "sysinit.target bond.service"),
            ],
            &[("Id", "bond.service"), ("LoadState", "masked")],
            &[
                loaded[0],
                ("Id", "unmasked.service"),
                ("ActiveState", "failed"),
                ("Result", "exit-code"),
                ("ExecMainStartTimestampMonotonic", "3"),
                ("ExecMainStatus", "1"),
            ],
            &[
                loaded[0],
                ("Id", "after-unmasked.service"),
                ("ActiveState", "inactive"),
                ("Result", "success"),
                ("Requires", "unmasked.service"),
            ],
            &[
                loaded[0],
                ("Id", "ran-anyway.service"),
                ("ActiveState", "active"),
                ("SubState", "exited"),
                ("Result", "success"),
                ("ExecMainStartTimestampMonotonic", "9"),
                ("ExecMainStatus", "0"),
                ("Requires", "bond.service"),
            ],
            &[
                loaded[0],
                ("Id", "stamped.service"),
                ("ActiveState", "inactive"),
                ("Result", "success"),
                ("ConditionTimestampMonotonic", "7"),
                ("ConditionResult", "no"),
            ],
            &[
                loaded[0],
                ("Id", "nic.service"),
                ("ActiveState", "active"),
                ("SubState", "exited"),
                ("Result", "success"),
                ("ExecMainStartTimestampMonotonic", "4"),
                ("ExecMainStatus", "0"),
                (
                    "DropInPaths",
                    "/etc/systemd/system/nic.service.d/i3s-boot-stand-in.conf",
                ),
            ],
            &[
                loaded[0],
                ("Id", "das.service"),
                ("ActiveState", "failed"),
                ("Result", "exit-code"),
                ("ExecMainStartTimestampMonotonic", "4"),
                ("ExecMainStatus", "1"),
                (
                    "DropInPaths",
                    "/etc/systemd/system/das.service.d/i3s-boot-stand-in.conf",
                ),
            ],
        ]);
        let units: Vec<String> = [
            "ok.service",
            "bad.service",
            "after-bad.service",
            "after-bond.service",
            "bond.service",
            "stamped.service",
            "missing.service",
            "ran-anyway.service",
            "unmasked.service",
            "after-unmasked.service",
            "nic.service",
            "das.service",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let skip = BTreeMap::from([
            ("bond.service".to_string(), "needs NICs".to_string()),
            ("unmasked.service".to_string(), "needs DAS".to_string()),
            ("nic.service".to_string(), "needs NICs".to_string()),
            ("das.service".to_string(), "needs DAS".to_string()),
        ]);
        let entries = parse_journal(
            "{\"_SYSTEMD_UNIT\":\"bad.service\",\"MESSAGE\":\"about to fail\",\"SYSLOG_IDENTIFIER\":\"sh\"}\n\
             {\"_SYSTEMD_UNIT\":\"init.scope\",\"UNIT\":\"bad.service\",\"MESSAGE\":[70,97,105,108,101,100],\"SYSLOG_IDENTIFIER\":\"systemd\"}\n",
        );
        let r = judge(&units, &skip, &shown, &entries);
        let status: Vec<&UnitStatus> = r.iter().map(|u| &u.status).collect();
        assert_eq!(status[0], &UnitStatus::Succeeded);
        assert_eq!(
            status[1],
            &UnitStatus::Failed {
                result: "exit-code".into()
            }
        );
        assert_eq!(r[1].exit_status, Some(3));
        assert_eq!(r[1].journal, ["sh: about to fail", "systemd: Failed"]);
        assert_eq!(
            status[2],
            &UnitStatus::NotRun {
                because: "it requires bad.service, which failed".into()
            }
        );
        assert_eq!(
            status[3],
            &UnitStatus::NotRun {
                because: "it requires bond.service, which was not exercised (needs NICs)".into()
            }
        );
        assert_eq!(
            status[4],
            &UnitStatus::NotExercised {
                reason: "needs NICs".into()
            }
        );
        assert_eq!(status[5], &UnitStatus::ConditionFailed);
        assert!(
            matches!(status[6], UnitStatus::Failed { result } if result.contains("not loaded"))
        );
        assert_eq!(status[7], &UnitStatus::Succeeded);
        assert_eq!(
            r[7].note.as_deref(),
            Some("ran after bond.service's stand-in: bond.service was not exercised")
        );
        assert!(r[0].note.is_none() && r[3].note.is_none());
        // Declared, but it ran: reported as it went, never as "not exercised".
        assert!(matches!(&status[8], UnitStatus::Failed { .. }));
        assert!(
            r[8].note
                .as_deref()
                .unwrap()
                .contains("its stand-in did not hold")
        );
        // The stand-in ran (its done-stamp written): not exercised, never "succeeded"; a
        // stand-in that failed is a failure.
        assert_eq!(
            status[10],
            &UnitStatus::NotExercised {
                reason: "needs NICs".into()
            }
        );
        assert!(r[10].note.is_none());
        assert!(matches!(&status[11], UnitStatus::Failed { .. }));
        assert_eq!(
            r[11].note.as_deref(),
            Some("its stand-in (writing the done-stamp) failed")
        );
        let report = BootReport {
            outcome: BootOutcome::Finished,
            units: r,
            elapsed: Duration::ZERO,
            kept: None,
        };
        assert_eq!(
            report.failed(),
            [
                "bad.service",
                "missing.service",
                "unmasked.service",
                "das.service",
                "after-bad.service",
                "after-unmasked.service"
            ]
        );
        assert!(!report.succeeded());
    }

    fn report(changes: Option<Vec<(ChangeKind, &str, FileType)>>) -> PlanReport {
        PlanReport {
            plan: "P".into(),
            capture: false,
            image: PathBuf::from("i.qcow2"),
            steps: Vec::new(),
            failure: None,
            changes: changes.map(|c| {
                c.into_iter()
                    .map(|(kind, path, file_type)| Change {
                        kind,
                        path: path.to_string(),
                        file_type,
                        mode: "0777".into(),
                        size: 0,
                        target: None,
                        sha256: None,
                        details: Vec::new(),
                    })
                    .collect()
            }),
            readback_note: None,
            overlay: None,
            boot: None,
        }
    }

    #[test]
    fn the_units_are_the_ones_the_plan_linked() {
        use ChangeKind::*;
        use FileType::*;
        let plan = report(Some(vec![
            (Added, "/etc/systemd/system/a.service", File),
            (
                Added,
                "/etc/systemd/system/runlast.target.wants/a.service",
                Symlink,
            ),
            (
                Changed,
                "/etc/systemd/system/multi-user.target.wants/consul.service",
                Symlink,
            ),
            (
                Added,
                "/etc/systemd/system/sockets.target.requires/x.socket",
                Symlink,
            ),
            (
                Removed,
                "/etc/systemd/system/runlast.target.wants/old.service",
                Symlink,
            ),
            (Added, "/etc/systemd/system/default.target", Symlink),
            (
                Added,
                "/etc/systemd/system/runlast.target.wants/readme.txt",
                Symlink,
            ),
            (
                Added,
                "/usr/lib/systemd/system/multi-user.target.wants/y.service",
                Symlink,
            ),
        ]));
        let tree = tempfile::tempdir().unwrap();
        assert_eq!(
            first_boot_units(plan.changes.as_deref(), tree.path()),
            ["a.service", "consul.service", "x.socket"]
        );
        // No read-back: the firstboot macro's links in the tree.
        let wants = tree.path().join("etc/systemd/system/runlast.target.wants");
        std::fs::create_dir_all(&wants).unwrap();
        for name in ["b.service", "a.service"] {
            std::os::unix::fs::symlink("/dev/null", wants.join(name)).unwrap();
        }
        assert_eq!(
            first_boot_units(None, tree.path()),
            ["a.service", "b.service"]
        );
    }

    #[test]
    fn a_timed_out_boot_is_judged_from_the_journal() {
        let entries = parse_journal(
            "{\"UNIT\":\"a.service\",\"JOB_RESULT\":\"done\",\"MESSAGE\":\"Finished a.service.\"}\n\
             {\"UNIT\":\"b.service\",\"MESSAGE\":\"Starting b.service...\"}\n",
        );
        let units = vec![
            "a.service".to_string(),
            "b.service".to_string(),
            "c.service".to_string(),
        ];
        let r = judge_from_journal(&units, &BTreeMap::new(), &entries);
        assert_eq!(r[0].status, UnitStatus::Succeeded);
        assert!(matches!(r[1].status, UnitStatus::Unfinished { .. }));
        assert!(matches!(r[2].status, UnitStatus::NotRun { .. }));
    }
}
