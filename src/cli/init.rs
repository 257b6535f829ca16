use crate::source::init::init_project;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to create the skeleton in.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Print the files created as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `init --json`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct InitReport {
    pub created: Vec<PathBuf>,
    /// The command to run next.
    pub next: String,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let created: Vec<PathBuf> = init_project(&args.dir)?
        .into_iter()
        .map(|path| args.dir.join(path))
        .collect();
    let next = format!("cd {} && i3s-bundle build", args.dir.display());
    if args.json {
        super::print_json(&InitReport { created, next })?;
    } else {
        for path in &created {
            println!("created {}", path.display());
        }
        println!("next: {next}");
    }
    Ok(ExitCode::SUCCESS)
}
