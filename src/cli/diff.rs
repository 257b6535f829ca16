use crate::bundle::diff::diff_loaded;
use crate::report::{self, load::Loaded};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// Compact Markdown (one collapsible block per artifact) for a PR comment or CI job summary.
    Markdown,
}

/// Compares two bundles artifact by artifact (matched by uuid, then name): plan scripts with a
/// unified diff of their content, build plan steps and attributes, deployment plans, golden images,
/// manifest; then every entry no artifact change accounts for (an unknown entry, content outside
/// the modelled fields). Exit 0 when equal (every entry), 1 when they differ, 2 when one cannot be read.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older bundle zip (or bundle source, or NAME of one in this project).
    pub old: PathBuf,
    /// The newer bundle zip (or bundle source, or NAME of one in this project).
    pub new: PathBuf,
    /// Print the changes as JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also write a self-contained HTML page of the newer bundle with the changes marked:
    /// side-by-side script diffs, step and attribute changes, first-boot graphs of both versions.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub limits: super::ReadLimits,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let mut options = args.limits.options();
    options.hash_payloads = false;
    let project = super::project::find_from_cwd;
    let old = Loaded::open(&args.old, &options, project)?;
    let new = Loaded::open(&args.new, &options, project)?;
    let changes = diff_loaded(&old.loaded, &new.loaded);
    if let Some(out) = &args.html {
        write_html(&old, &new, &changes, out)?;
    }
    match if args.json { Format::Json } else { args.format } {
        Format::Json => super::print_json(&changes)?,
        Format::Markdown => print!(
            "{}",
            report::diff_markdown(
                &args.old.display().to_string(),
                &args.new.display().to_string(),
                &changes
            )?
        ),
        Format::Human => print!("{changes}"),
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEMS)
    })
}

fn write_html(
    old: &Loaded,
    new: &Loaded,
    changes: &crate::bundle::diff::BundleDiff,
    out: &std::path::Path,
) -> crate::Result<()> {
    let config = super::lint::config_from_cwd()?;
    let (old_report, new_report) = (old.report(), new.report());
    let (old_target, new_target) = (old.target(), new.target());
    // The page shows the newer bundle's findings only.
    let old_lint = crate::lint::Report::default();
    let new_lint = report::load::lint_for_report(&new_target, config);
    let page = report::diff_html(
        &report::Input {
            report: &old_report,
            target: &old_target,
            lint: &old_lint,
        },
        &report::Input {
            report: &new_report,
            target: &new_target,
            lint: &new_lint,
        },
        changes,
    )?;
    crate::fs::write_atomic(out, page.as_bytes())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
