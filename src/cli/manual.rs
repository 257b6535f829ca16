//! `completions` and `man`: generated from the same clap definitions as the parser, so they
//! cannot drift from it (clap_complete and clap_mangen are the clap project's own generators).
use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created as needed).
    #[arg(long, value_name = "DIR", default_value = "man")]
    pub out: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> crate::Result<ExitCode> {
    let mut command = super::Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "i3s-bundle",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: ManArgs) -> crate::Result<ExitCode> {
    std::fs::create_dir_all(&args.out).map_err(|e| crate::Error::io(&args.out, e))?;
    // generate_to writes one page per command and subcommand (i3s-bundle-golden-image-fake.1).
    clap_mangen::generate_to(super::Cli::command(), &args.out)
        .map_err(|e| crate::Error::io(&args.out, e))?;
    for entry in std::fs::read_dir(&args.out).map_err(|e| crate::Error::io(&args.out, e))? {
        let path = entry.map_err(|e| crate::Error::io(&args.out, e))?.path();
        if path.extension().is_some_and(|e| e == "1") {
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
