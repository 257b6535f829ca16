use crate::bundle::read_bundle;
use crate::image::listing::{ChangeKind, FileType};
use crate::image::run::{self, PlanReport, StepStatus, Values};
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs a build plan's steps with guestfish against a copy-on-write overlay of IMAGE (the image
/// itself is never written), shows each step's output and what the plan changed.
/// Exit 0 the plan ran, 1 a step failed, 2 could not run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle zip.
    pub bundle: PathBuf,
    /// The build plan's name; with --all, every build plan of the bundle (one launch).
    #[arg(required_unless_present = "all")]
    pub build_plan: Option<String>,
    #[arg(long, conflicts_with = "build_plan")]
    pub all: bool,
    /// The disk image (raw or qcow2), e.g. from `golden-image fake`.
    #[arg(long)]
    pub image: PathBuf,
    /// An attribute value, NAME=VALUE (nic fields as NIC1.ipaddress=...). Repeatable.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attrs: Vec<String>,
    /// A file of attribute values: JSON object or TOML table of NAME = "VALUE".
    #[arg(long = "attrs", value_name = "FILE")]
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
    #[arg(long)]
    pub json: bool,
}

fn values(args: &Args) -> crate::Result<Values> {
    let mut values = Values::new();
    if let Some(path) = &args.attrs_file {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
        let table: serde_json::Map<String, serde_json::Value> =
            if path.extension().is_some_and(|e| e == "json") {
                serde_json::from_str(&text)
                    .map_err(|e| crate::Error::Usage(format!("{}: {e}", path.display())))?
            } else {
                toml::from_str(&text).map_err(|e| {
                    crate::Error::Usage(format!("{}: {}", path.display(), e.message()))
                })?
            };
        for (key, value) in table {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            values.insert(key, value);
        }
    }
    for pair in &args.attrs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| crate::Error::Usage(format!("--attr {pair:?}: expected NAME=VALUE")))?;
        values.insert(key.to_string(), value.to_string());
    }
    Ok(values)
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let given = values(&args)?;
    let loaded = read_bundle(&args.bundle, &Default::default())?;
    let bundle = &loaded.bundle;
    let names: Vec<String> = match &args.build_plan {
        Some(name) => vec![name.clone()],
        None => bundle.build_plans.iter().map(|p| p.name.clone()).collect(),
    };
    let host = if args.allow_host_commands {
        eprintln!(
            "warning: --allow-host-commands: the plans may run commands and read or write files on this machine"
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
    let report = run::run_plans(&args.image, &prepared, args.keep.as_deref())?;
    if args.json {
        super::print_json(&report)?;
    } else {
        for plan in &report.plans {
            print_plan(plan);
        }
        eprintln!(
            "{} plan(s), {} launch(es), {:.1} s in guestfish",
            report.plans.len(),
            report.launches,
            report.elapsed.as_secs_f64()
        );
    }
    Ok(if report.plans.iter().all(PlanReport::succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEMS)
    })
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
}
