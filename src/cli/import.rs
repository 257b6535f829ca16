use crate::source::import::import_bundle;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The exported bundle zip.
    pub bundle: PathBuf,
    /// The project to import into (created as needed).
    #[arg(long, default_value = ".")]
    pub into: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let report = import_bundle(&args.bundle, &args.into)?;
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
