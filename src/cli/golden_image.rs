use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a raw or qcow2 image against the OS's golden image requirements.
    Check {},
}

pub fn run(_command: Command) -> crate::Result<ExitCode> {
    super::not_yet("golden-image", 7)
}
