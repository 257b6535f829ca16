use crate::bundle::ReadOptions;
use crate::report::{self, load::Loaded};
use std::path::PathBuf;
use std::process::ExitCode;

/// Shows the manifest, checksum status, plan scripts (with the placeholders they use), build
/// plans (steps in order, attributes), deployment plans and golden images of a bundle zip, or of
/// a bundle source compiled in memory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle zip, a bundle source (bundles-src/NAME.toml), or NAME of one in this project.
    pub bundle: PathBuf,
    /// Print the report as JSON (docs/json-reports.md; its schema is docs/schemas/inspect.json).
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write a self-contained HTML page (no network, no JavaScript needed) to this file: plans,
    /// steps with their scripts, attributes, lint findings, first-boot graphs.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub limits: super::ReadLimits,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let options: ReadOptions = args.limits.options();
    let loaded = Loaded::open(&args.bundle, &options, super::project::find_from_cwd)?;
    let report = loaded.report();
    if let Some(out) = &args.html {
        let target = loaded.target();
        let lint = report::load::lint_for_report(&target, super::lint::config_from_cwd()?);
        let page = report::inspect_html(&report::Input {
            report: &report,
            target: &target,
            lint: &lint,
        })?;
        crate::fs::write_atomic(out, page.as_bytes())?;
        eprintln!("wrote {}", out.display());
    } else if args.json {
        super::print_json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
