use crate::bundle::{inspect::inspect, read_bundle};
use std::path::PathBuf;
use std::process::ExitCode;

/// Shows the manifest, checksum status, plan scripts (with the placeholders they use), build
/// plans (steps in order, attributes), deployment plans and golden images of a bundle zip.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle zip.
    pub bundle: PathBuf,
    /// Print the report as JSON (shape documented in README.md, "inspect --json").
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: super::ReadLimits,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let loaded = read_bundle(&args.bundle, &args.limits.options())?;
    let report = inspect(&loaded);
    if args.json {
        super::print_json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
