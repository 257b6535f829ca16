use crate::bundle::{diff::diff_loaded, read_bundle};
use std::path::PathBuf;
use std::process::ExitCode;

/// Compares two bundles artifact by artifact (matched by uuid, then name): plan scripts with a
/// unified diff of their content, build plan steps and attributes, deployment plans, golden images,
/// manifest; then every entry no artifact change accounts for (an unknown entry, content outside
/// the modelled fields). Exit 0 when equal (every entry), 1 when they differ, 2 when one cannot be read.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older bundle zip.
    pub old: PathBuf,
    /// The newer bundle zip.
    pub new: PathBuf,
    /// Print the changes as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: super::ReadLimits,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let mut options = args.limits.options();
    options.hash_payloads = false;
    let old = read_bundle(&args.old, &options)?;
    let new = read_bundle(&args.new, &options)?;
    let changes = diff_loaded(&old, &new);
    if args.json {
        super::print_json(&changes)?;
    } else {
        print!("{changes}");
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEMS)
    })
}
