//! The `i3s-bundle` command: parse arguments, call the library, print, choose the exit code.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = i3s_bundle::cli::Cli::parse();
    match i3s_bundle::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(i3s_bundle::cli::EXIT_UNUSABLE)
        }
    }
}
