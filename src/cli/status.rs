//! `status`: does the appliance hold what the bundles say? Exit 0 in sync, 1 drift.
use super::publish::ConnectionArgs;
use crate::publish;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compares the bundles (or every zip in --dist) with the appliance, artifact by artifact:
/// equal, changed (field by field, as `diff` prints it), missing, extra. Writes nothing.
/// Exit 0 in sync, 1 drift (something changed, missing or extra), 2 could not compare.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle zips to compare (default: every zip in --dist).
    #[arg(value_name = "BUNDLE.zip")]
    pub bundles: Vec<PathBuf>,
    /// Where the built bundle zips are (when none are given). Default: dist/ of the project
    /// holding the current directory, else ./dist.
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,
    /// Attach golden image IMAGE to deployment plan PLAN, as given to publish.
    #[arg(long = "golden-image", value_name = "PLAN=IMAGE", value_parser = super::publish::pair)]
    pub golden_images: Vec<(String, String)>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let paths = match args.bundles.is_empty() {
        true => super::publish::zips_in(&super::publish::dist_dir(args.dist.as_deref()))?,
        false => args.bundles.clone(),
    };
    let sources = paths
        .iter()
        .map(|p| publish::source::load(p, &args.golden_images))
        .collect::<crate::Result<Vec<_>>>()?;
    let client = args.connection.connect()?;
    let report = publish::status::status(&client, &sources)?;
    drop(client);
    if args.json {
        super::print_json(&report)?;
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::from(match report.in_sync {
        true => crate::error::exit::OK,
        false => crate::error::exit::DRIFT,
    }))
}
