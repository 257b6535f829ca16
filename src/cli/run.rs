use crate::bundle::{Bundle, read_bundle};
use crate::image::boot::{self, BootOptions, BootOutcome, BootReport, Bootable, UnitStatus};
use crate::image::listing::{ChangeKind, FileType};
use crate::image::run::{self, PlanReport, PreparedPlan, RunReport, StepStatus, Values};
use crate::source::contract::{Contract, is_unit_name};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Runs a build plan's steps with guestfish against a copy-on-write overlay of IMAGE (the image
/// itself is never written), shows each step's output and what the plan changed; with --boot,
/// boots the result under systemd (systemd-nspawn) and reports each first-boot unit.
/// Exit 0 the plan ran (and every first-boot unit succeeded), 1 a step or unit failed, 2 could
/// not run, 3 the boot timed out.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle zip, or a bundle source (bundles-src/NAME.toml, compiled in memory): only a
    /// source carries the capabilities' contracts (`boot_skip` for --boot).
    pub bundle: PathBuf,
    /// The build plan's name; with --all, every build plan of the bundle (one launch).
    #[arg(required_unless_present = "all")]
    pub build_plan: Option<String>,
    /// Run every build plan of the bundle, one after the other on one image.
    #[arg(long, conflicts_with = "build_plan")]
    pub all: bool,
    /// The disk image (raw or qcow2), e.g. from `golden-image fake`.
    #[arg(long)]
    pub image: PathBuf,
    /// An attribute value, NAME=VALUE (nic fields as NIC1.ipaddress=...). Repeatable.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attrs: Vec<String>,
    /// A file of attribute values: JSON object, TOML table or NAME=VALUE lines; `--attr` wins.
    #[arg(long = "attrs-file", alias = "attrs", value_name = "FILE")]
    pub attrs_file: Option<PathBuf>,
    /// Fill attributes without a value with plausible sample values.
    #[arg(long)]
    pub sample_attrs: bool,
    /// Keep the overlays (the results) and the scripts run (secrets blanked) in DIR.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Run plans that reach this machine outside the image (`!cmd`, `<!cmd`, `| cmd`, host file
    /// arguments such as `upload /etc/shadow …`, `lcd`, `edit`…). Refused by default, before
    /// anything runs: a bundle is untrusted input and these would run as you (often root).
    #[arg(long)]
    pub allow_host_commands: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// After each deploy plan ran, boot its result with systemd as PID 1 (systemd-nspawn, as
    /// root) and report each first-boot unit: succeeded, failed (with its journal), not
    /// exercised (a contract's `boot_skip`) or not run. The container shares this machine's
    /// network unless --nspawn-arg says otherwise.
    #[arg(long)]
    pub boot: bool,
    /// The bound on each boot: 90s, 5m, 1h (humantime), or seconds.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::units::parse_duration, requires = "boot")]
    pub boot_timeout: Duration,
    /// A unit the container cannot run, UNIT=REASON (adds to the contracts' `boot_skip`; the
    /// only way to declare them for a bundle zip). Repeatable.
    #[arg(long = "boot-skip", value_name = "UNIT=REASON", requires = "boot")]
    pub boot_skip: Vec<String>,
    /// An extra systemd-nspawn option, e.g. --nspawn-arg=--private-network or
    /// --nspawn-arg=--bind-ro=/etc/resolv.conf. Repeatable.
    #[arg(
        long = "nspawn-arg",
        value_name = "OPTION",
        allow_hyphen_values = true,
        requires = "boot"
    )]
    pub nspawn_args: Vec<String>,
}

/// The bundle and, for a bundle source, each plan script's contract (same order as
/// `bundle.plan_scripts`).
fn load(args: &Args) -> crate::Result<(Bundle, Option<Vec<Contract>>)> {
    match crate::lint::sources::bundle_source_root(&args.bundle) {
        Some(root) => {
            let mut sources = crate::lint::sources::compile_project(&root, Some(&args.bundle))?;
            let source = sources.pop().ok_or_else(|| {
                crate::Error::Usage(format!(
                    "{}: not a bundle source of the project at {}",
                    args.bundle.display(),
                    root.display()
                ))
            })?;
            let contracts = source
                .target()
                .sources
                .map(|facts| facts.contracts.into_iter().map(|(c, _)| c).collect());
            Ok((source.compiled.bundle, contracts))
        }
        None => Ok((read_bundle(&args.bundle, &Default::default())?.bundle, None)),
    }
}

/// `--boot-skip UNIT=REASON` pairs.
fn boot_skips(args: &Args) -> crate::Result<BTreeMap<String, String>> {
    let mut skip = BTreeMap::new();
    for pair in &args.boot_skip {
        match pair.split_once('=') {
            Some((unit, why)) if is_unit_name(unit.trim()) && !why.trim().is_empty() => {
                skip.insert(unit.trim().to_string(), why.trim().to_string());
            }
            _ => {
                return Err(crate::Error::Usage(format!(
                    "--boot-skip {pair:?}: expected UNIT=REASON, e.g. network-bond.service=\"needs the server's NICs\""
                )));
            }
        }
    }
    Ok(skip)
}

/// The `boot_skip` of the contracts of the plan's steps, then `extra`.
fn plan_skips(
    bundle: &Bundle,
    contracts: Option<&[Contract]>,
    plan: &str,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut skip = BTreeMap::new();
    if let (Some(contracts), Some(plan)) = (contracts, bundle.build_plan_by_name(plan)) {
        for (_, script) in bundle.steps_of(plan) {
            let index = script.and_then(|s| bundle.plan_scripts.iter().position(|p| p.id == s.id));
            if let Some(contract) = index.and_then(|i| contracts.get(i)) {
                skip.extend(contract.boot_skip.clone());
            }
        }
    }
    skip.extend(extra.clone());
    skip
}

fn values(args: &Args) -> crate::Result<Values> {
    crate::render::attribute_values(args.attrs_file.as_deref(), &args.attrs)
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let given = values(&args)?;
    let extra_skips = boot_skips(&args)?;
    if args.boot {
        boot::check_environment()?;
        // systemd-nspawn(1): without user namespaces "this sandbox can easily be circumvented
        // from within the container"; they need cgroup delegation this host may not have.
        crate::terminal::alert(
            "--boot runs the plan's first-boot units as root in a container that is no security boundary: boot only bundles you trust (with --nspawn-arg=--private-users=pick --nspawn-arg=--private-users-ownership=chown where the host supports user namespaces)",
        );
    }
    let (bundle, contracts) = load(&args)?;
    let bundle = &bundle;
    if args.boot && contracts.is_none() {
        crate::terminal::note(
            "note: a bundle zip carries no contracts: only --boot-skip declares units the container cannot run",
        );
    }
    let prepared = prepare_plans(&args, bundle, &given)?;
    let jobs: Vec<_> = prepared.iter().map(|p| (args.image.as_path(), p)).collect();
    let ran = run::run_jobs_kept(&jobs, args.keep.as_deref())?;
    let mut report = ran.report;
    if args.boot {
        boot_ran(
            &args,
            bundle,
            contracts.as_deref(),
            &prepared,
            &ran.overlays,
            &mut report,
            &extra_skips,
        )?;
    }
    if args.json {
        super::print_json(&report)?;
    } else {
        for plan in &report.plans {
            print_plan(plan);
        }
        crate::terminal::note(format!(
            "{} plan(s), {} launch(es), {:.1} s in guestfish",
            report.plans.len(),
            report.launches,
            report.elapsed.as_secs_f64()
        ));
    }
    Ok(ExitCode::from(exit_code(&report.plans)))
}

/// Prepares each plan to run (all of the bundle's with --all), with sample values for the
/// attributes not given when --sample-attrs asks for them.
fn prepare_plans(args: &Args, bundle: &Bundle, given: &Values) -> crate::Result<Vec<PreparedPlan>> {
    let names: Vec<String> = match &args.build_plan {
        Some(name) => vec![name.clone()],
        None => bundle.build_plans.iter().map(|p| p.name.clone()).collect(),
    };
    let host = if args.allow_host_commands {
        crate::terminal::alert(
            "--allow-host-commands: the plans may run commands and read or write files on this machine",
        );
        run::HostAccess::Allow
    } else {
        run::HostAccess::Refuse
    };
    let mut prepared = Vec::new();
    for name in &names {
        let mut values = given.clone();
        if args.sample_attrs
            && let Some(plan) = bundle.build_plan_by_name(name)
        {
            for (key, value) in run::sample_values(bundle, plan) {
                values.entry(key).or_insert(value);
            }
        }
        prepared.push(run::prepare(&args.bundle, bundle, name, &values, host)?);
    }
    Ok(prepared)
}

/// --boot: boots the deploy plans that ran through and records each boot in the report.
fn boot_ran(
    args: &Args,
    bundle: &Bundle,
    contracts: Option<&[Contract]>,
    prepared: &[PreparedPlan],
    overlays: &[PathBuf],
    report: &mut RunReport,
    extra_skips: &BTreeMap<String, String>,
) -> crate::Result<()> {
    let options = BootOptions {
        timeout: args.boot_timeout,
        skip: extra_skips.clone(),
        nspawn_args: args.nspawn_args.clone(),
        keep: args.keep.clone(),
        stop: None,
    };
    // Deploy plans that ran through and mount a root: capture plans make images, not nodes.
    let bootable: Vec<usize> = (0..report.plans.len())
        .filter(|&i| {
            let plan = &report.plans[i];
            plan.succeeded() && !plan.capture && prepared[i].root_device.is_some()
        })
        .collect();
    let items: Vec<Bootable> = bootable
        .iter()
        .map(|&i| Bootable {
            plan: &report.plans[i].plan,
            changes: report.plans[i].changes.as_deref(),
            overlay: &overlays[i],
            root_device: prepared[i].root_device.as_deref().expect("filtered"),
            skip: plan_skips(bundle, contracts, &prepared[i].name, extra_skips),
        })
        .collect();
    let boots = boot::boot_plans(&items, &options)?;
    for (i, boot) in bootable.into_iter().zip(boots) {
        report.plans[i].boot = Some(boot);
    }
    Ok(())
}

/// 1 a step failed; 3 a boot timed out; 1 a first-boot unit failed (or never finished, or never
/// ran for no declared reason); else 0. Not exercised units do not fail a boot.
fn exit_code(plans: &[PlanReport]) -> u8 {
    let boots = || plans.iter().filter_map(|p| p.boot.as_ref());
    if !plans.iter().all(PlanReport::succeeded) {
        super::EXIT_PROBLEMS
    } else if boots().any(|b| b.outcome == BootOutcome::TimedOut) {
        super::EXIT_TIMEOUT
    } else if !boots().all(BootReport::succeeded) {
        super::EXIT_PROBLEMS
    } else {
        0
    }
}

fn print_boot(boot: &BootReport) {
    let outcome = match boot.outcome {
        BootOutcome::Finished => "finished",
        BootOutcome::TimedOut => "TIMED OUT (units judged from the journal up to the timeout)",
        BootOutcome::PoweredOff => "POWERED OFF (units judged from the journal up to then)",
    };
    println!(
        "boot: {outcome} in {:.1} s, {} first-boot unit(s)",
        boot.elapsed.as_secs_f64(),
        boot.units.len()
    );
    if boot.units.is_empty() {
        println!("  (the plan linked no unit into a .wants/ directory: nothing to watch)");
    }
    for unit in &boot.units {
        let status = match &unit.status {
            UnitStatus::Succeeded => "succeeded".to_string(),
            UnitStatus::Running => "running".to_string(),
            UnitStatus::Failed { result } => match unit.exit_status {
                Some(code) => format!("FAILED ({result}, exit status {code})"),
                None => format!("FAILED ({result})"),
            },
            UnitStatus::NotExercised { reason } => format!("not exercised: {reason}"),
            UnitStatus::NotRun { because } => format!("not run: {because}"),
            UnitStatus::ConditionFailed => {
                "skipped: a condition was not met (e.g. its done-stamp exists)".to_string()
            }
            UnitStatus::Unfinished { state } => format!("UNFINISHED: {state}"),
        };
        match &unit.note {
            Some(note) => println!("unit {}: {status} ({note})", unit.unit),
            None => println!("unit {}: {status}", unit.unit),
        }
        let failed = matches!(
            unit.status,
            UnitStatus::Failed { .. } | UnitStatus::Unfinished { .. }
        );
        if failed {
            for line in &unit.journal {
                println!("    | {line}");
            }
        }
    }
    let failed = boot.failed();
    if boot.outcome == BootOutcome::Finished {
        if failed.is_empty() {
            println!("boot: every exercised first-boot unit succeeded");
        } else {
            println!("boot: failed: {}", failed.join(", "));
        }
    }
    if let Some(dir) = &boot.kept {
        println!("boot kept in {}", dir.display());
    }
}

fn print_plan(plan: &PlanReport) {
    println!(
        "== {} ({}) on {}",
        plan.plan,
        if plan.capture { "capture" } else { "deploy" },
        plan.image.display()
    );
    for step in &plan.steps {
        let status = match step.status {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "FAILED",
            StepStatus::NotRun => "not run",
        };
        println!("step {} {}: {status}", step.serial, step.name);
        for line in &step.output {
            println!("    | {line}");
        }
        for e in &step.ignored_errors {
            println!(
                "    ! line {}: {} (ignored: the command starts with -)",
                e.line, e.message
            );
        }
    }
    if let Some(f) = &plan.failure {
        let at = f.line.map(|l| format!(" line {l}")).unwrap_or_default();
        println!(
            "FAILED: step {} {} ({}{at}): {}",
            f.serial, f.step_name, f.entry, f.message
        );
        if let Some(command) = &f.command {
            println!("    > {command}");
        }
    }
    if let Some(note) = &plan.readback_note {
        println!("changes: {note}");
    }
    if let Some(changes) = &plan.changes {
        println!("changes ({}):", changes.len());
        for c in changes {
            let sign = match c.kind {
                ChangeKind::Added => "+",
                ChangeKind::Changed => "~",
                ChangeKind::Removed => "-",
            };
            let what = match c.file_type {
                FileType::Symlink => format!("symlink -> {}", c.target.as_deref().unwrap_or("?")),
                FileType::Directory => format!("directory {}", c.mode),
                FileType::File => format!("file {} {} bytes", c.mode, c.size),
                FileType::Other => format!("{} {}", c.file_type.as_str(), c.mode),
            };
            let details = if c.details.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.details.join(", "))
            };
            println!("  {sign} {} {what}{details}", c.path);
        }
    }
    if let Some(overlay) = &plan.overlay {
        println!("result kept in {}", overlay.display());
    }
    if let Some(boot) = &plan.boot {
        print_boot(boot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::boot::UnitReport;
    use clap::Parser;

    fn plan(units: &[UnitStatus], outcome: BootOutcome) -> PlanReport {
        PlanReport {
            plan: "P".into(),
            capture: false,
            image: PathBuf::from("i.qcow2"),
            steps: Vec::new(),
            failure: None,
            changes: Some(Vec::new()),
            readback_note: None,
            overlay: None,
            boot: Some(BootReport {
                outcome,
                units: units
                    .iter()
                    .enumerate()
                    .map(|(i, status)| UnitReport {
                        unit: format!("u{i}.service"),
                        status: status.clone(),
                        exit_status: None,
                        note: None,
                        journal: Vec::new(),
                    })
                    .collect(),
                elapsed: Duration::ZERO,
                kept: None,
            }),
        }
    }

    #[test]
    fn exit_codes_follow_the_worst_boot() {
        let skipped = UnitStatus::NotExercised {
            reason: "needs NICs".into(),
        };
        let after_skipped = UnitStatus::NotRun {
            because: "it requires u1.service, which was not exercised (needs NICs)".into(),
        };
        let failed = UnitStatus::Failed {
            result: "exit-code".into(),
        };
        let finished = BootOutcome::Finished;
        let clean = plan(
            &[UnitStatus::Succeeded, skipped.clone(), after_skipped],
            finished,
        );
        assert_eq!(exit_code(std::slice::from_ref(&clean)), 0);
        let broken = plan(&[UnitStatus::Succeeded, failed], finished);
        assert_eq!(exit_code(&[clean.clone(), broken.clone()]), 1);
        let unexplained = UnitStatus::NotRun {
            because: "it never started".into(),
        };
        assert_eq!(exit_code(&[plan(&[unexplained], finished)]), 1);
        let hung = plan(&[UnitStatus::Succeeded], BootOutcome::TimedOut);
        assert_eq!(exit_code(&[broken, hung]), 3);
        assert_eq!(exit_code(&[plan(&[], finished)]), 0);
    }

    #[test]
    fn boot_skips_need_a_unit_and_a_reason() {
        let args = |skips: &[&str]| {
            let mut a = vec!["run", "b.zip", "P", "--image", "i", "--boot"];
            for s in skips {
                a.extend(["--boot-skip", s]);
            }
            let cli = crate::cli::Cli::try_parse_from(
                std::iter::once("i3s-bundle").chain(a.iter().copied()),
            )
            .unwrap();
            match cli.command {
                crate::cli::Command::Run(args) => args,
                _ => unreachable!(),
            }
        };
        let skip = boot_skips(&args(&["network-bond.service=needs the server's NICs"])).unwrap();
        assert_eq!(skip["network-bond.service"], "needs the server's NICs");
        for bad in ["network-bond=needs NICs", "x.service=", "x.service"] {
            let err = boot_skips(&args(&[bad])).unwrap_err().to_string();
            assert!(err.contains("expected UNIT=REASON"), "{bad}: {err}");
        }
    }
}
