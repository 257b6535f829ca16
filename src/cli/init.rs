use crate::source::init::init_project;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to create the skeleton in.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    for path in init_project(&args.dir)? {
        println!("created {}", args.dir.join(path).display());
    }
    println!("next: cd {} && i3s-bundle build", args.dir.display());
    Ok(ExitCode::SUCCESS)
}
