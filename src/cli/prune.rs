//! `prune`: delete old published bundle versions and what only they brought.
use super::publish::ConnectionArgs;
use crate::publish::prune;
use std::process::ExitCode;

/// Deletes the artifact bundles `<name>_<version>` beyond the newest --keep versions of each
/// name (ordered by version), and the plan scripts, build plans, golden images and deployment
/// plans only they brought — never one a deployment plan, build plan, server profile template or
/// server profile still uses (reported with who uses it). Safe to run again after a failure.
/// Exit 0 done, 1 a deletion failed (the report says what was done), 2 could not start.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Versions to keep per bundle name (the newest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// Show what would be deleted and what stays; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let client = args.connection.connect()?;
    let report = prune::prune(&client, args.keep as usize, args.dry_run);
    drop(client);
    super::publish::finish(&report, args.json, report.render(), report.outcome)
}
