//! The local plan runner: run a build plan's steps against a disk image with guestfish, the way
//! Image Streamer does, and show what they changed.
//!
//! - The image is never written: each plan gets a qcow2 overlay backed by it.
//! - Placeholders are substituted as the appliance does (values, then the build plan's defaults,
//!   then the placeholder's own default); a missing value is an error before anything runs, and
//!   so is an unterminated here-document (guestfish would swallow the rest of the plan).
//! - All steps run in ONE guestfish process (`run` prepended), with the read-back of the root
//!   file system before and after in the same process; several plans share one launch, each on
//!   its own overlay, LVM switched between them with `lvm-set-filter`.
//! - guestfish stops at the first failing command; its `*stdin*:N` (or the last progress marker
//!   for errors without a line) is mapped back to the step and the step's line.
use super::listing::{self, Change, Listing};
use crate::bundle::{BuildPlan, BuildStep, Bundle, CustomAttribute, PlanScript};
use crate::error::{Error, Location, Result};
use crate::guestfish::driver::{self, DiskFormat, Drive, Script};
use crate::guestfish::substitute::{self, Refusal};
use crate::guestfish::{self, ProblemKind};
use crate::placeholder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Marker guestfish echoes between commands so output and failures can be placed.
const MARK: &str = "@@i3s-run@@";

/// One step, ready to run.
#[derive(Debug, Clone)]
pub struct PreparedStep {
    pub serial: String,
    pub name: String,
    /// The zip entry the plan script came from (for error locations).
    pub entry: String,
    /// The content after placeholder substitution.
    pub content: String,
    /// Script lines (1-based) after which a command ends, with the command's first line.
    command_ends: Vec<(usize, usize)>,
    /// Here-document lines (body and terminator, 1-based, inclusive ranges).
    heredoc_lines: Vec<(usize, usize)>,
}

/// A build plan, ready to run: steps substituted and checked.
#[derive(Debug, Clone)]
pub struct PreparedPlan {
    pub name: String,
    pub capture: bool,
    pub steps: Vec<PreparedStep>,
    /// The device the plan mounts at `/` (read back before and after).
    pub root_device: Option<String>,
    /// With a root device: also write here a tar of every entry the plan created or changed
    /// ([`listing::changes_tar_commands`]), in the same launch; removed entries are in the
    /// report's changes. Unset by [`prepare`].
    pub changes_tar: Option<PathBuf>,
    /// Values never shown in output (password attributes).
    secrets: Vec<String>,
}

/// Attribute values given on the command line or in a file, by name (`NIC1.ipaddress` for nic
/// sub-fields).
pub type Values = BTreeMap<String, String>;

/// Whether a plan may reach the machine running guestfish (see [`guestfish::host`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAccess {
    /// Refuse, before launching anything, a plan with `!`, `<!`, `| cmd`, host file arguments or
    /// host built-ins (the default: a bundle is untrusted input).
    Refuse,
    /// Run them (`--allow-host-commands`): only for bundles the user wrote or trusts.
    Allow,
}

/// Substitutes and checks a build plan. Errors name the bundle, plan script entry, line and column.
pub fn prepare(
    bundle_path: &Path,
    bundle: &Bundle,
    plan_name: &str,
    values: &Values,
    host: HostAccess,
) -> Result<PreparedPlan> {
    let plan = bundle.build_plan_by_name(plan_name).ok_or_else(|| {
        let names: Vec<&str> = bundle.build_plans.iter().map(|p| p.name.as_str()).collect();
        Error::Usage(format!(
            "{}: no build plan named {plan_name:?} (it has: {})",
            bundle_path.display(),
            names.join(", ")
        ))
    })?;
    let declared: BTreeMap<&str, &CustomAttribute> = plan
        .custom_attributes
        .iter()
        .map(|a| (a.name.as_str(), a))
        .collect();
    check_values(&declared, values)?;
    let lookup = |key: &str| -> Option<String> {
        values.get(key).cloned().or_else(|| {
            declared
                .get(key)
                .and_then(|a| a.default_value())
                .map(str::to_string)
        })
    };
    let mut steps = Vec::new();
    let mut refused = Refused::default();
    for (step, script) in bundle.steps_of(plan) {
        let script = script.ok_or_else(|| {
            Error::at(
                Location::file(bundle_path),
                format!(
                    "build plan {plan_name:?} step {} points at {:?}, which is not in the bundle",
                    step.serial_number, step.plan_script_uri
                ),
            )
        })?;
        steps.push(prepare_step(
            bundle_path,
            step,
            script,
            &lookup,
            &mut refused,
        )?);
    }
    refused.check(plan_name, host)?;
    let secrets = plan
        .custom_attributes
        .iter()
        .filter(|a| a.attribute_type.is_secret())
        .filter_map(|a| lookup(&a.name))
        .filter(|v| !v.is_empty())
        .collect();
    Ok(PreparedPlan {
        name: plan.name.clone(),
        capture: plan.is_capture(),
        root_device: steps.iter().find_map(|s| root_mount(&s.content)),
        steps,
        changes_tar: None,
        secrets,
    })
}

/// Values the plan's declared attributes do not accept, or that span lines.
fn check_values(declared: &BTreeMap<&str, &CustomAttribute>, values: &Values) -> Result<()> {
    for (key, value) in values {
        if value.contains('\n') || value.contains('\r') {
            return Err(Error::Usage(format!(
                "attribute {key}: a value cannot span lines"
            )));
        }
        if let Some(attr) = declared.get(key.as_str())
            && let Err(problem) = attr.check_value(value)
        {
            let shown = if attr.attribute_type.is_secret() {
                "(secret)".to_string()
            } else {
                problem.to_string()
            };
            return Err(Error::Usage(format!(
                "attribute {key} ({}): {shown}",
                attr.attribute_type
            )));
        }
    }
    Ok(())
}

/// What stops a plan from running, gathered over all its steps so one error lists them all:
/// values missing for placeholders, and ways out of the image to the host.
#[derive(Default)]
struct Refused {
    missing: Vec<String>,
    escapes: Vec<String>,
}

impl Refused {
    fn check(&self, plan_name: &str, host: HostAccess) -> Result<()> {
        let Refused { missing, escapes } = self;
        if host == HostAccess::Refuse && !escapes.is_empty() {
            return Err(Error::Usage(format!(
                "build plan {plan_name:?} reaches the machine running guestfish, outside the image; nothing was run:\n  {}\n  help: plan scripts change the image (`upload -<<END path`, `write`, `ln-s`, `rm-f`…); \
                 if you wrote or trust this bundle, pass --allow-host-commands",
                escapes.join("\n  ")
            )));
        }
        if !missing.is_empty() {
            return Err(Error::Usage(format!(
                "build plan {plan_name:?} needs values for attributes without a default; nothing was run:\n  {}\n  help: pass --attr NAME=VALUE (or --attrs-file FILE, or --sample-attrs)",
                missing.join("\n  ")
            )));
        }
        Ok(())
    }
}

/// Checks and substitutes one step; missing values and host escapes go to `refused`.
fn prepare_step(
    bundle_path: &Path,
    step: &BuildStep,
    script: &PlanScript,
    lookup: &dyn Fn(&str) -> Option<String>,
    refused: &mut Refused,
) -> Result<PreparedStep> {
    let entry = format!("{}_planscript.json", script.id.to_ascii_lowercase());
    let parsed = guestfish::parse(&script.content);
    if let Some(problem) = parsed.problems.iter().find(|p| {
        matches!(
            p.kind,
            ProblemKind::UnterminatedHereDoc { .. } | ProblemKind::CarriageReturn
        )
    }) {
        let mut location = Location::entry(bundle_path, &entry).line(problem.line);
        location.column = problem.column;
        return Err(Error::at(
            location,
            format!(
                "step {} ({}): {}; nothing was run",
                step.serial_number, script.name, problem.message
            ),
        ));
    }
    for escape in guestfish::host::host_escapes(&parsed) {
        refused.escapes.push(format!(
            "{}: step {} ({}): `{}` {}",
            Location::entry(bundle_path, &entry).line(escape.line),
            step.serial_number,
            script.name,
            escape.construct,
            escape.effect
        ));
    }
    let content = match substitute::substitute(&script.content, lookup) {
        Ok(content) => content,
        Err(Refusal::Missing(unresolved)) => {
            for p in unresolved {
                refused.missing.push(format!(
                    "{}: @{}@ (step {} {})",
                    Location::entry(bundle_path, &entry).at(p.line, p.column),
                    p.key(),
                    step.serial_number,
                    script.name
                ));
            }
            script.content.clone()
        }
        Err(Refusal::Structure {
            placeholders,
            line,
            change,
        }) => {
            return Err(structure_refusal(
                Location::entry(bundle_path, &entry),
                &format!("step {} ({})", step.serial_number, script.name),
                &placeholders,
                line,
                &change,
            ));
        }
    };
    let (command_ends, heredoc_lines) = line_maps(&parsed);
    Ok(PreparedStep {
        serial: step.serial_number.clone(),
        name: script.name.clone(),
        entry,
        content,
        command_ends,
        heredoc_lines,
    })
}

/// Pairs of 1-based script lines.
type LinePairs = Vec<(usize, usize)>;

/// Where each command ends (last line, first line) and which lines are here-document lines.
fn line_maps(parsed: &guestfish::Script) -> (LinePairs, LinePairs) {
    let command_ends = parsed
        .commands
        .iter()
        .map(|c| {
            (
                c.heredoc
                    .as_ref()
                    .and_then(|h| h.end_line)
                    .unwrap_or(c.line),
                c.line,
            )
        })
        .collect();
    let heredoc_lines = parsed
        .commands
        .iter()
        .filter_map(|c| {
            c.heredoc
                .as_ref()
                .map(|h| (h.body_line, h.end_line.unwrap_or(usize::MAX)))
        })
        .collect();
    (command_ends, heredoc_lines)
}

/// The error for attribute values that would change a plan script's structure. Values are never
/// shown (they may be secrets); the attribute names, the line and the change are.
fn structure_refusal(
    location: Location,
    step: &str,
    placeholders: &[placeholder::Placeholder],
    line: usize,
    change: &str,
) -> Error {
    let names: Vec<String> = placeholders.iter().map(|p| p.key()).collect();
    let at = placeholders
        .first()
        .map_or(location.clone().line(line), |p| {
            location.clone().at(p.line, p.column)
        });
    Error::at(
        at,
        format!(
            "{step}: the value of attribute {} would change the plan script's commands at line {line}: {change}; nothing was run",
            names.join(", ")
        ),
    )
    .with_help(
        "a value is substituted into the script's text: where the placeholder stands on a command line, use a value without blanks, quotes, `|` or the here-document's tag, or quote the placeholder in the plan script",
    )
}

/// The device a script mounts at `/` (`mount /dev/cl/root /`, also `-mount`, `mount-options`).
pub fn root_mount(content: &str) -> Option<String> {
    guestfish::parse(content).commands.iter().find_map(|c| {
        match (c.name.as_str(), c.args.as_slice()) {
            ("mount" | "mount-ro", [device, mountpoint]) if mountpoint == "/" => {
                Some(device.clone())
            }
            ("mount-options" | "mount-vfs", [.., device, mountpoint]) if mountpoint == "/" => {
                Some(device.clone())
            }
            _ => None,
        }
    })
}

/// Plausible values for every attribute a build plan declares or its steps use: for trying a
/// plan against a fake image without inventing values by hand.
pub fn sample_values(bundle: &Bundle, plan: &BuildPlan) -> Values {
    let mut values = Values::new();
    for attr in &plan.custom_attributes {
        let value = attr
            .default_value()
            .map(str::to_string)
            .unwrap_or_else(|| attr.sample_value());
        values.insert(attr.name.clone(), value);
    }
    for (_, script) in bundle.steps_of(plan) {
        for p in script
            .map(|s| placeholder::scan(&s.content))
            .unwrap_or_default()
        {
            if values.contains_key(&p.key()) || p.default.is_some() {
                continue;
            }
            let value = p
                .field
                .as_deref()
                .map_or("sample", crate::bundle::attribute::sample_field_value)
                .to_string();
            values.insert(p.key(), value);
        }
    }
    values
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    NotRun,
}

/// An error guestfish printed for a `-` command and went on.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct IgnoredError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StepReport {
    pub serial: String,
    pub name: String,
    pub status: StepStatus,
    pub output: Vec<String>,
    pub ignored_errors: Vec<IgnoredError>,
}

/// Where and why a plan stopped.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StepFailure {
    pub serial: String,
    pub step_name: String,
    /// The plan script entry in the bundle.
    pub entry: String,
    /// 1-based line in the plan script.
    pub line: Option<usize>,
    pub command: Option<String>,
    pub message: String,
}

/// What running one plan did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct PlanReport {
    pub plan: String,
    pub capture: bool,
    pub image: PathBuf,
    pub steps: Vec<StepReport>,
    pub failure: Option<StepFailure>,
    /// The root file system's changes; `None` when they could not be read back.
    pub changes: Option<Vec<Change>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readback_note: Option<String>,
    /// The overlay holding the result, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<PathBuf>,
    /// The boot of the result (`run --boot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<super::boot::BootReport>,
}

impl PlanReport {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
    pub fn change(&self, path: &str) -> Option<&Change> {
        self.changes
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.path == path))
    }
}

/// All plans of one call, with how long the guestfish processes took.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RunReport {
    pub plans: Vec<PlanReport>,
    pub launches: usize,
    /// Seconds.
    #[serde(serialize_with = "secs")]
    #[schemars(with = "f64")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where an input line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Runner,
    ReadBack(usize),
    /// Plan (index into the launch's jobs), step index, 1-based line in the step.
    Step(usize, usize, usize),
}

/// Runs plans against `image`, each on its own overlay, in as few launches as possible (one,
/// unless a plan fails: guestfish stops there, and the plans after it get a new launch).
/// `keep`: keep the overlays, the scripts and guestfish's output (secrets blanked) in this directory.
pub fn run_plans(image: &Path, plans: &[PreparedPlan], keep: Option<&Path>) -> Result<RunReport> {
    let jobs: Vec<(&Path, &PreparedPlan)> = plans.iter().map(|p| (image, p)).collect();
    run_jobs(&jobs, keep)
}

/// Runs each plan against its own image (e.g. every OS's plans against that OS's fake), all in
/// one launch when no plan fails.
pub fn run_jobs(jobs: &[(&Path, &PreparedPlan)], keep: Option<&Path>) -> Result<RunReport> {
    run_jobs_kept(jobs, keep).map(|ran| ran.report)
}

/// Plans that ran, with their overlays still on disk until this is dropped (`run --boot` boots
/// them).
pub struct Ran {
    pub report: RunReport,
    /// One per plan, in order: the overlay holding its result.
    pub overlays: Vec<PathBuf>,
    _temp: tempfile::TempDir,
}

/// [`run_jobs`], keeping the overlays for the caller.
pub fn run_jobs_kept(jobs: &[(&Path, &PreparedPlan)], keep: Option<&Path>) -> Result<Ran> {
    let temp = tempfile::Builder::new()
        .prefix("i3s-run-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let overlay_dir = match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?
        }
        None => temp.path().to_path_buf(),
    };
    let mut images = Vec::new();
    let mut overlays = Vec::new();
    let plans: Vec<PreparedPlan> = jobs.iter().map(|(_, p)| (*p).clone()).collect();
    for (i, (image, plan)) in jobs.iter().enumerate() {
        let image = std::fs::canonicalize(image).map_err(|e| Error::io(image, e))?;
        let overlay = overlay_dir.join(format!("{:02}-{}.qcow2", i + 1, file_safe(&plan.name)));
        create_overlay(&image, DiskFormat::detect(&image)?, &overlay)?;
        images.push(image);
        overlays.push(overlay);
    }
    let mut reports: Vec<Option<PlanReport>> = vec![None; plans.len()];
    let mut pending: Vec<usize> = (0..plans.len()).collect();
    let mut launches = 0;
    let mut elapsed = Duration::ZERO;
    while !pending.is_empty() {
        let batch = Batch {
            images: &images,
            plans: &plans,
            jobs: &pending,
            overlays: &overlays,
            work: temp.path(),
            launch: launches,
        };
        let (done, next, took) = batch.run(keep)?;
        launches += 1;
        elapsed += took;
        for (index, report) in done {
            reports[index] = Some(report);
        }
        if next.len() == pending.len() {
            return Err(Error::other("guestfish made no progress (internal error)"));
        }
        pending = next;
    }
    let mut plans_out: Vec<PlanReport> = reports
        .into_iter()
        .map(|r| r.expect("every plan ran"))
        .collect();
    if keep.is_some() {
        for (report, overlay) in plans_out.iter_mut().zip(&overlays) {
            report.overlay = Some(overlay.clone());
        }
    }
    Ok(Ran {
        report: RunReport {
            plans: plans_out,
            launches,
            elapsed,
        },
        overlays,
        _temp: temp,
    })
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A copy-on-write overlay: all writes go to `overlay`, `image` is opened read-only.
pub fn create_overlay(image: &Path, format: DiskFormat, overlay: &Path) -> Result<()> {
    let _ = std::fs::remove_file(overlay);
    let output = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-b"])
        .arg(image)
        .args(["-F", format.as_str()])
        .arg(overlay)
        .output()
        .map_err(|e| Error::other(format!("cannot run qemu-img: {e} (install qemu-utils)")))?;
    if !output.status.success() {
        return Err(Error::other(format!(
            "qemu-img create overlay for {}: {}",
            image.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Where guestfish stopped: job (in the launch), step, line in the step when known, message.
type Failure = (usize, usize, Option<usize>, String);

/// What guestfish's stdout says: each step's output, the last marker passed (job, step, the
/// line of the command that ended last) and the jobs that got to their end.
struct Walk {
    outputs: BTreeMap<(usize, usize), Vec<String>>,
    last_mark: Option<(usize, usize, Option<usize>)>,
    finished: Vec<usize>,
}

impl Walk {
    /// Walks stdout: markers say where we are, everything else is step output.
    fn of(stdout: &str) -> Walk {
        let mut outputs: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
        let mut last_mark: Option<(usize, usize, Option<usize>)> = None;
        let mut finished: Vec<usize> = Vec::new();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix(MARK) {
                let parts: Vec<usize> = rest
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|p| p.parse().ok())
                    .collect();
                match (rest.trim_start().chars().next(), parts.as_slice()) {
                    (Some('B'), [j, s]) => last_mark = Some((*j, *s, None)),
                    (Some('C'), [j, s, l]) => last_mark = Some((*j, *s, Some(*l))),
                    (Some('E'), [j]) => finished.push(*j),
                    _ => {}
                }
                continue;
            }
            if let Some((j, s, _)) = last_mark {
                outputs.entry((j, s)).or_default().push(line.to_string());
            }
        }
        Walk {
            outputs,
            last_mark,
            finished,
        }
    }
}

/// What one launch left for the reports: guestfish's errors, the script, the walked stdout.
#[derive(Clone, Copy)]
struct Launched<'a> {
    errors: &'a [driver::ErrorLine],
    script: &'a Script<Origin>,
    walk: &'a Walk,
}

struct Batch<'a> {
    /// The image each plan runs against (by plan index).
    images: &'a [PathBuf],
    plans: &'a [PreparedPlan],
    /// Indices into `plans` (and `overlays`) run in this launch, in order.
    jobs: &'a [usize],
    overlays: &'a [PathBuf],
    work: &'a Path,
    launch: usize,
}

impl Batch<'_> {
    fn local(&self, job: usize, what: &str) -> PathBuf {
        self.work
            .join(format!("l{}-p{}-{what}", self.launch, self.jobs[job]))
    }

    /// The job (position in this launch) whose "before" listing job `j` uses: the first one
    /// with the same image and root device.
    fn before_source(&self, j: usize) -> usize {
        let key = |k: usize| {
            (
                &self.images[self.jobs[k]],
                &self.plans[self.jobs[k]].root_device,
            )
        };
        (0..j).find(|&k| key(k) == key(j)).unwrap_or(j)
    }

    fn build_script(&self) -> Script<Origin> {
        let mut script = Script::new();
        script.line("run", Origin::Runner);
        for (j, &index) in self.jobs.iter().enumerate() {
            let plan = &self.plans[index];
            if self.jobs.len() > 1 {
                script.line(
                    format!("lvm-set-filter {}", driver::device_name(j)),
                    Origin::Runner,
                );
            }
            if let Some(root) = &plan.root_device {
                // Overlays of one image start identical (block for block, times included):
                // list the "before" state once per image and root device.
                if self.before_source(j) == j {
                    script.line(format!("-mount {root} /"), Origin::ReadBack(j));
                    script.line(
                        listing::list_command(&self.local(j, "before")),
                        Origin::ReadBack(j),
                    );
                    script.line("-umount-all", Origin::ReadBack(j));
                }
                script.line(listing::stamp_command(&format!("{j}")), Origin::ReadBack(j));
            }
            for (s, step) in plan.steps.iter().enumerate() {
                script.line(format!("echo {MARK} B {j} {s}"), Origin::Runner);
                let mut ends = step.command_ends.iter().peekable();
                for (n, line) in step.content.split('\n').enumerate() {
                    let line_no = n + 1;
                    if step
                        .heredoc_lines
                        .iter()
                        .any(|&(from, to)| (from..=to).contains(&line_no))
                    {
                        script.heredoc_line(line, Origin::Step(j, s, line_no));
                    } else {
                        script.line(line, Origin::Step(j, s, line_no));
                    }
                    while let Some(&&(end, first)) = ends.peek() {
                        if end > line_no {
                            break;
                        }
                        script.line(format!("echo {MARK} C {j} {s} {first}"), Origin::Runner);
                        ends.next();
                    }
                }
            }
            script.line(format!("echo {MARK} E {j}"), Origin::Runner);
            if let Some(root) = &plan.root_device {
                script.line("-umount-all", Origin::ReadBack(j));
                script.line(format!("-mount {root} /"), Origin::ReadBack(j));
                script.line(
                    listing::list_command(&self.local(j, "after")),
                    Origin::ReadBack(j),
                );
                script.line(
                    listing::hash_changed_command(&format!("{j}"), &self.local(j, "hashes")),
                    Origin::ReadBack(j),
                );
                if let Some(tar) = &plan.changes_tar {
                    for line in listing::changes_tar_commands(&format!("{j}"), tar) {
                        script.line(line, Origin::ReadBack(j));
                    }
                }
            }
            script.line("-umount-all", Origin::Runner);
        }
        script
    }

    /// Runs the launch. Returns the finished plans, the plans still to run, and the time taken.
    #[allow(clippy::type_complexity)]
    fn run(&self, keep: Option<&Path>) -> Result<(Vec<(usize, PlanReport)>, Vec<usize>, Duration)> {
        let script = self.build_script();
        let outcome = self.launch(&script, keep)?;
        let errors = driver::error_lines(&outcome.stderr);
        let walk = Walk::of(&outcome.stdout);
        let failure = if outcome.success {
            None
        } else {
            Some(self.failure(&outcome, &errors, &script, &walk)?)
        };

        let launched = Launched {
            errors: &errors,
            script: &script,
            walk: &walk,
        };
        let mut done = Vec::new();
        let mut remaining = Vec::new();
        for (j, &index) in self.jobs.iter().enumerate() {
            let failed_here = failure.as_ref().filter(|f| f.0 == j);
            if !walk.finished.contains(&j) && failed_here.is_none() {
                remaining.push(index);
                continue;
            }
            done.push((index, self.plan_report(j, failed_here, &launched)));
        }
        Ok((done, remaining, outcome.elapsed))
    }

    /// Runs guestfish on the script; with `keep`, saves the script and its output there
    /// (secrets blanked).
    fn launch(&self, script: &Script<Origin>, keep: Option<&Path>) -> Result<driver::Outcome> {
        if let Some(dir) = keep {
            let mut text = script.text();
            for &index in self.jobs {
                for secret in &self.plans[index].secrets {
                    text = text.replace(secret.as_str(), "********");
                }
            }
            let path = dir.join(format!("launch-{}.gf", self.launch + 1));
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        let drives: Vec<Drive> = self
            .jobs
            .iter()
            .map(|&i| Drive {
                path: self.overlays[i].clone(),
                format: DiskFormat::Qcow2,
                read_only: false,
            })
            .collect();
        let outcome = driver::run_script(&drives, &script.text())?;
        if let Some(dir) = keep {
            for (name, text) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
                let path = dir.join(format!("launch-{}.{name}", self.launch + 1));
                let redacted = self
                    .jobs
                    .iter()
                    .fold(text.clone(), |t, &i| self.redact(i, &t));
                std::fs::write(&path, redacted).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(outcome)
    }

    /// Where and why guestfish stopped (job, step, line, message): the error's line, else the
    /// command after the last marker.
    fn failure(
        &self,
        outcome: &driver::Outcome,
        errors: &[driver::ErrorLine],
        script: &Script<Origin>,
        walk: &Walk,
    ) -> Result<Failure> {
        let last_mark = walk.last_mark;
        let finished = &walk.finished;
        let fatal = errors
            .iter()
            .rev()
            .find(|e| match e.line.and_then(|l| script.origin(l)) {
                Some(Origin::Step(j, s, line)) => !self.ignores_errors(*j, *s, *line),
                _ => true,
            });
        let message = fatal
            .map(|e| e.message.clone())
            .unwrap_or_else(|| format!("guestfish exited with {:?}", outcome.exit_code));
        match fatal
            .and_then(|e| e.line)
            .and_then(|l| script.origin(l))
            .copied()
        {
            Some(Origin::Step(j, s, line)) => Ok((j, s, Some(line), message)),
            Some(Origin::Runner) | Some(Origin::ReadBack(_)) if last_mark.is_none() => Err(
                Error::other(format!("guestfish failed before the first step: {message}")),
            ),
            _ => match last_mark {
                Some((j, s, after)) if !finished.contains(&j) => {
                    Ok((j, s, self.next_command(j, s, after), message))
                }
                _ => Err(Error::other(format!(
                    "guestfish failed outside the plan steps: {message}"
                ))),
            },
        }
    }

    /// The report of job `j`, which finished or failed in this launch.
    fn plan_report(
        &self,
        j: usize,
        failed_here: Option<&Failure>,
        launched: &Launched,
    ) -> PlanReport {
        let index = self.jobs[j];
        let plan = &self.plans[index];
        let Launched { errors, script, .. } = *launched;
        let steps = self.step_reports(j, failed_here, launched);
        let failure = failed_here.map(|(_, s, line, message)| {
            let step = &plan.steps[*s];
            StepFailure {
                serial: step.serial.clone(),
                step_name: step.name.clone(),
                entry: step.entry.clone(),
                line: *line,
                command: line
                    .and_then(|l| step.content.split('\n').nth(l - 1))
                    .map(|c| self.redact(index, c.trim())),
                message: self.redact(index, message),
            }
        });
        let (changes, readback_note) = if failure.is_some() {
            (
                None,
                Some("the plan stopped, so the changes were not read back".to_string()),
            )
        } else {
            self.changes(j, plan, errors, script)
        };
        PlanReport {
            plan: plan.name.clone(),
            capture: plan.capture,
            image: self.images[index].clone(),
            steps,
            failure,
            changes,
            readback_note,
            overlay: None,
            boot: None,
        }
    }

    /// How each step of job `j` went, with its output and the errors it ignored.
    fn step_reports(
        &self,
        j: usize,
        failed_here: Option<&Failure>,
        launched: &Launched,
    ) -> Vec<StepReport> {
        let index = self.jobs[j];
        let plan = &self.plans[index];
        let Launched {
            errors,
            script,
            walk,
        } = *launched;
        let outputs = &walk.outputs;
        plan.steps
            .iter()
            .enumerate()
            .map(|(s, step)| {
                let status = match failed_here {
                    Some(f) if f.1 == s => StepStatus::Failed,
                    Some(f) if s > f.1 => StepStatus::NotRun,
                    _ => StepStatus::Ok,
                };
                let failing_line = failed_here.filter(|f| f.1 == s).and_then(|f| f.2);
                let ignored_errors = errors
                    .iter()
                    .filter_map(|e| match e.line.and_then(|l| script.origin(l)) {
                        Some(&Origin::Step(ej, es, line))
                            if ej == j && es == s && Some(line) != failing_line =>
                        {
                            Some(IgnoredError {
                                line,
                                message: self.redact(index, &e.message),
                            })
                        }
                        _ => None,
                    })
                    .collect();
                StepReport {
                    serial: step.serial.clone(),
                    name: step.name.clone(),
                    status,
                    output: outputs
                        .get(&(j, s))
                        .map(|o| o.iter().map(|l| self.redact(index, l)).collect())
                        .unwrap_or_default(),
                    ignored_errors,
                }
            })
            .collect()
    }

    fn ignores_errors(&self, j: usize, s: usize, line: usize) -> bool {
        let content = &self.plans[self.jobs[j]].steps[s].content;
        content
            .split('\n')
            .nth(line - 1)
            .is_some_and(|l| l.trim_start().starts_with('-'))
    }

    /// The first line of the command after `after` in a step (the first command when `None`).
    fn next_command(&self, j: usize, s: usize, after: Option<usize>) -> Option<usize> {
        let step = &self.plans[self.jobs[j]].steps[s];
        step.command_ends
            .iter()
            .map(|&(_, first)| first)
            .find(|&first| after.is_none_or(|a| first > a))
    }

    fn redact(&self, index: usize, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.plans[index].secrets {
            text = text.replace(secret.as_str(), "********");
        }
        text
    }

    fn changes(
        &self,
        j: usize,
        plan: &PreparedPlan,
        errors: &[driver::ErrorLine],
        script: &Script<Origin>,
    ) -> (Option<Vec<Change>>, Option<String>) {
        if plan.root_device.is_none() {
            return (
                None,
                Some("the plan mounts nothing at /, so there was nothing to read back".to_string()),
            );
        }
        let readback_error = errors
            .iter()
            .find(|e| e.line.and_then(|l| script.origin(l)) == Some(&Origin::ReadBack(j)));
        let read = |what: &str| std::fs::read_to_string(self.local(j, what)).unwrap_or_default();
        let before_file = self.local(self.before_source(j), "before");
        let before = Listing::parse(&std::fs::read_to_string(before_file).unwrap_or_default());
        let after = Listing::parse(&read("after"));
        if before.is_empty() || after.is_empty() {
            let why = readback_error
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "empty listing".to_string());
            return (
                None,
                Some(format!("could not read back the root file system: {why}")),
            );
        }
        let hashes = listing::parse_hashes(&read("hashes"));
        (Some(listing::diff(&before, &after, &hashes)), None)
    }
}

/// Runs one plan of a bundle: prepare, then [`run_plans`].
pub fn run_plan(
    bundle_path: &Path,
    bundle: &Bundle,
    plan: &str,
    values: &Values,
    image: &Path,
    keep: Option<&Path>,
) -> Result<RunReport> {
    let prepared = prepare(bundle_path, bundle, plan, values, HostAccess::Refuse)?;
    run_plans(image, &[prepared], keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{AttributeType, BuildStep, Manifest, PlanScript};

    /// `prepare` of plan "P" of `b.zip` as `run` does by default (host access refused).
    fn refusing(b: &Bundle, values: &Values) -> Result<PreparedPlan> {
        prepare(Path::new("b.zip"), b, "P", values, HostAccess::Refuse)
    }

    fn bundle(steps: &[&str], attributes: Vec<CustomAttribute>) -> Bundle {
        let scripts: Vec<PlanScript> = steps
            .iter()
            .enumerate()
            .map(|(i, c)| {
                PlanScript::new(
                    format!("00000000-0000-4000-8000-{i:012}"),
                    format!("s{i}"),
                    String::new(),
                    "deploy",
                    c.to_string(),
                )
            })
            .collect();
        let mut plan = BuildPlan::new(
            "00000000-0000-4000-9000-000000000000".into(),
            "P".into(),
            String::new(),
            "deploy",
        );
        plan.steps = scripts
            .iter()
            .enumerate()
            .map(|(i, s)| BuildStep::new(i + 1, s))
            .collect();
        plan.custom_attributes = attributes;
        Bundle {
            manifest: Manifest::new("b", "", false, "2026-11-26T00:00:00.000Z".into()),
            checksum: Default::default(),
            plan_scripts: scripts,
            golden_images: Vec::new(),
            build_plans: vec![plan],
            deployment_plans: Vec::new(),
        }
    }

    #[test]
    fn substitutes_values_then_plan_defaults_then_placeholder_defaults() {
        let mut vlan = CustomAttribute::new("VLAN_ID", AttributeType::Number);
        vlan.value = Some("7".into());
        let b = bundle(
            &["mount /dev/cl/root /", "echo @HOST@ @VLAN_ID@ @MTU:1500@"],
            vec![vlan],
        );
        let values = Values::from([("HOST".to_string(), "n1".to_string())]);
        let plan = refusing(&b, &values).unwrap();
        assert_eq!(plan.steps[1].content, "echo n1 7 1500");
        assert_eq!(plan.root_device.as_deref(), Some("/dev/cl/root"));
    }

    #[test]
    fn missing_values_bad_values_and_open_heredocs_stop_before_running() {
        let b = bundle(
            &["echo @HOST@", "upload -<<END /x\nbody"],
            vec![CustomAttribute::new("N", AttributeType::Number)],
        );
        let err = refusing(&b, &Values::new()).unwrap_err().to_string();
        assert!(
            err.contains("never closed")
                && err.contains("b.zip!00000000-0000-4000-8000-000000000001_planscript.json:1"),
            "{err}"
        );
        let b = bundle(
            &["echo @HOST@ @N@"],
            vec![CustomAttribute::new("N", AttributeType::Number)],
        );
        let err = refusing(&b, &Values::new()).unwrap_err().to_string();
        assert!(
            err.contains("@HOST@") && err.contains(":1:6") && err.contains("nothing was run"),
            "{err}"
        );
        let values = Values::from([
            ("HOST".to_string(), "h".to_string()),
            ("N".to_string(), "x".to_string()),
        ]);
        let err = refusing(&b, &values).unwrap_err().to_string();
        assert!(err.contains("not a number"), "{err}");
    }

    #[test]
    fn host_escapes_are_refused_before_anything_runs() {
        let b = bundle(
            &[
                "mount /dev/cl/root /",
                "!touch /tmp/i3s-host\ncat /etc/passwd | sh -c id\nupload /etc/shadow /s\nlcd /",
            ],
            Vec::new(),
        );
        let err = refusing(&b, &Values::new()).unwrap_err().to_string();
        for needle in [
            "nothing was run",
            "_planscript.json:1: step 2 (s1): `!` runs a host shell command (`touch /tmp/i3s-host`)",
            ":2: step 2 (s1): `|` pipes",
            ":3: step 2 (s1): `upload` reads or writes the host file \"/etc/shadow\"",
            ":4: step 2 (s1): `lcd`",
            "--allow-host-commands",
        ] {
            assert!(err.contains(needle), "{needle:?} in {err}");
        }
        let allowed = prepare(
            Path::new("b.zip"),
            &b,
            "P",
            &Values::new(),
            HostAccess::Allow,
        );
        assert!(allowed.is_ok(), "{allowed:?}");
    }

    #[test]
    fn values_that_would_change_the_commands_are_refused_without_showing_them() {
        let pw = CustomAttribute::new("PW", AttributeType::Password);
        let b = bundle(
            &["mount /dev/cl/root /\nmkdir-p @DIR@\nwrite /etc/x \"@PW@\""],
            vec![pw],
        );
        let values = |dir: &str, pw: &str| {
            Values::from([
                ("DIR".to_string(), dir.to_string()),
                ("PW".to_string(), pw.to_string()),
            ])
        };
        let run = |dir: &str, pw: &str| refusing(&b, &values(dir, pw)).map_err(|e| e.to_string());
        assert!(run("/opt/x", "a b' c").is_ok());
        let err = run("/opt | touch /tmp/pwned", "ok").unwrap_err();
        assert!(
            err.contains("_planscript.json:2:9: step 1 (s0): the value of attribute DIR")
                && err.contains("host shell command")
                && !err.contains("pwned"),
            "{err}"
        );
        let err = run("/opt", "s3cret\" | touch /tmp/x \"").unwrap_err();
        assert!(
            err.contains("attribute PW") && !err.contains("s3cret") && !err.contains("touch"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_never_shown_in_errors() {
        let mut pw = CustomAttribute::new("PW", AttributeType::Password);
        pw.constraints = crate::bundle::Constraints::decode(r#"{"minlen":20}"#).unwrap();
        let b = bundle(&["echo @PW@"], vec![pw]);
        let values = Values::from([("PW".to_string(), "hunter2-short".to_string())]);
        let err = refusing(&b, &values).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
