use crate::bundle::read_bundle;
use crate::bundle::verify::{Severity, VerifyReport, verify};
use std::path::PathBuf;
use std::process::ExitCode;

/// Checks every entry against the checksum file, the manifest, serial numbers and references.
/// One line per problem. Exit 0 clean, 1 problems found, 2 a file could not be read.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle zips to check.
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    /// Print one JSON report per bundle (an array).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: super::ReadLimits,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let options = args.limits.options();
    let mut reports: Vec<VerifyReport> = Vec::new();
    let mut unreadable = false;
    for path in &args.bundles {
        match read_bundle(path, &options) {
            Ok(loaded) => reports.push(verify(&loaded)),
            Err(error) => {
                eprintln!("error: {error}");
                unreadable = true;
            }
        }
    }
    if args.json {
        super::print_json(&reports)?;
    } else {
        for report in &reports {
            for p in &report.problems {
                let level = if p.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                println!(
                    "{}!{}: {level}: {}",
                    report.path.display(),
                    p.entry,
                    p.message
                );
            }
            if report.is_clean() {
                crate::terminal::note(format!("{}: ok", report.path.display()));
            }
        }
    }
    Ok(if unreadable {
        ExitCode::from(super::EXIT_UNUSABLE)
    } else if reports.iter().all(VerifyReport::is_clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEMS)
    })
}
