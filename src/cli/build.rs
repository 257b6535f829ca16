use crate::build::{BuildOptions, Status, build};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub root: super::project::RootArg,
    /// Output directory (default: <root>/dist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Build only this bundle (file stem in bundles-src/ or [bundle] name); repeatable.
    #[arg(long = "bundle", value_name = "NAME")]
    pub bundles: Vec<String>,
    /// Rebuild even what is up to date.
    #[arg(long)]
    pub force: bool,
    /// Also write <out>/<project>-<version>.tar.gz with every bundle, SHA256SUMS and the report.
    #[arg(long)]
    pub archive: bool,
    /// Print the build report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let options = BuildOptions {
        root: args.root.resolve()?,
        out: args.out,
        bundles: args.bundles,
        force: args.force,
        archive: args.archive,
    };
    // A source error is the build's outcome (exit 1); a bad argument stays one (exit 2).
    let report = build(&options).map_err(|error| match error {
        error @ crate::Error::Usage(_) => error,
        error => crate::Error::Failed {
            source: Box::new(error),
            after: Some("nothing was written; earlier outputs are unchanged".into()),
        },
    })?;
    for warning in &report.warnings {
        crate::terminal::warn(warning);
    }
    if args.json {
        super::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.up_to_date() {
        println!("up to date");
        return Ok(ExitCode::SUCCESS);
    }
    for bundle in &report.bundles {
        match bundle.status {
            Status::Built => println!(
                "built       {}  sha256:{}",
                bundle.path.display(),
                bundle.sha256
            ),
            Status::UpToDate => println!("up to date  {}", bundle.path.display()),
        }
    }
    if let Some(archive) = &report.archive {
        let verb = if archive.status == Status::Built {
            "built      "
        } else {
            "up to date "
        };
        println!(
            "{verb} {}  sha256:{}",
            archive.path.display(),
            archive.sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}
