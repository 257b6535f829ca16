use crate::source::import::import_bundle;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The exported bundle zip.
    pub bundle: PathBuf,
    /// The project to import into (created as needed). Default: the project holding the
    /// current directory (its nearest parent holding bundles-src/), else the current directory.
    /// `--into` is an old spelling.
    #[arg(long = "root", short = 'C', alias = "into", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let into = match &args.root {
        Some(dir) => dir.clone(),
        None => super::project::find_from_cwd().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let report = import_bundle(&args.bundle, &into)?;
    for warning in &report.warnings {
        crate::terminal::warn(warning);
    }
    if args.json {
        super::print_json(&report)?;
    } else {
        println!("wrote {}", report.bundle_file.display());
        println!(
            "{} plan script file(s) written, {} reused",
            report.plan_scripts.len(),
            report.reused.len()
        );
        if !report.registry_added.is_empty() {
            println!("registry: added {}", report.registry_added.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
