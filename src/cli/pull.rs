use super::publish::ConnectionArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle's exact name on the appliance.
    pub name: String,
    /// Where to write the zip (default NAME.zip).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.zip", args.name)));
    let client = args.connection.connect()?;
    // Logged in: a pull that fails from here is a failed outcome (docs/commands.md: exit 1).
    let report =
        crate::publish::pull::pull(&client, &args.name, &out).map_err(crate::Error::failed)?;
    if args.json {
        super::print_json(&report)?;
    } else {
        println!(
            "pulled {} ({} bytes) from {} into {}",
            report.name,
            report.bytes,
            report.uri,
            report.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
