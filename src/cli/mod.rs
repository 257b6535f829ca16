//! One file per subcommand, each a few dozen lines: arguments, a library call, output.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod build;
pub mod deploy;
pub mod diff;
pub mod golden_image;
pub mod import;
pub mod init;
pub mod inspect;
pub mod lint;
pub mod publish;
pub mod pull;
pub mod render;
pub mod run;
pub mod simulate;
pub mod verify;

/// Exit code: the command ran and found problems, differences or failures.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: the command could not run (bad arguments, unreadable input, configuration).
pub const EXIT_UNUSABLE: u8 = 2;
/// Exit code: gave up waiting (deploy).
pub const EXIT_TIMEOUT: u8 = 3;

/// Build, check and publish HPE Synergy Image Streamer artifact bundles from source in git.
///
/// Exit codes: 0 success, 1 problems found (or differences, or a failed operation),
/// 2 could not run (bad arguments, unreadable input), 3 timed out waiting.
#[derive(Debug, Parser)]
#[command(name = "i3s-bundle", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("I3S_BUNDLE_COMMIT"), ")"), about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a bundle zip holds: manifest, checksums, plan scripts, plans, golden images.
    Inspect(inspect::Args),
    /// Check bundle zips: checksums, manifest, serial numbers, references. Exit 0 clean, 1 problems, 2 unreadable.
    Verify(verify::Args),
    /// Compare two bundles artifact by artifact. Exit 0 equal, 1 different, 2 unreadable.
    Diff(diff::Args),
    /// Build the bundles of bundles-src/ into dist/ (only what changed).
    Build(build::Args),
    /// Print one rendered plan script, or write the files it would upload.
    Render(render::Args),
    /// Turn an exported bundle zip into source (bundle TOML, plan scripts, registry entries).
    Import(import::Args),
    /// Create a new repository skeleton with one working example bundle.
    Init(init::Args),
    /// Check plan scripts, build plans and bundles for the mistakes appliances only find at deploy time.
    Lint(lint::Args),
    /// Upload bundles to an appliance, extract them, and create or update deployment plans.
    Publish(publish::Args),
    /// Download a bundle from the appliance.
    Pull(pull::Args),
    /// Run the appliance simulator (Image Streamer + OneView subset) on loopback.
    Simulate(simulate::Args),
    /// Golden images: check, fake, pack, upload.
    #[command(subcommand)]
    GoldenImage(golden_image::Command),
    /// Run a build plan against a disk image with guestfish and show what it changed.
    Run(run::Args),
    /// Provision a server from a use-case file and wait until it is up.
    Deploy(deploy::Args),
    /// Power off and delete the server profile of a use-case file.
    Undeploy(deploy::UndeployArgs),
}

pub fn run(cli: Cli) -> crate::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Build(args) => build::run(args),
        Command::Render(args) => render::run(args),
        Command::Import(args) => import::run(args),
        Command::Init(args) => init::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::GoldenImage(command) => golden_image::run(command),
        Command::Run(args) => run::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Undeploy(args) => deploy::undeploy(args),
    }
}

/// Limits for reading bundle zips (zip-bomb protection).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadLimits {
    /// Largest JSON, manifest or checksum entry, in bytes (declared or inflated).
    #[arg(long, value_name = "BYTES", default_value_t = crate::bundle::ReadOptions::default().max_entry_size)]
    pub max_entry_size: u64,
    /// Largest golden image payload, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::bundle::ReadOptions::default().max_payload_size)]
    pub max_payload_size: u64,
}

impl ReadLimits {
    pub fn options(&self) -> crate::bundle::ReadOptions {
        crate::bundle::ReadOptions {
            max_entry_size: self.max_entry_size,
            max_payload_size: self.max_payload_size,
            ..Default::default()
        }
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::other(format!("cannot print JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
