use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, clap::Args)]
pub struct UndeployArgs {}

pub fn run(_args: Args) -> crate::Result<ExitCode> {
    super::not_yet("deploy", 8)
}

pub fn undeploy(_args: UndeployArgs) -> crate::Result<ExitCode> {
    super::not_yet("undeploy", 8)
}
