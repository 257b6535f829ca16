//! One file per subcommand, each a few dozen lines: arguments, a library call, output.
use crate::bundle::ReadOptions;
use crate::units::Size;
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
pub mod manual;
pub mod project;
pub mod prune;
pub mod publish;
pub mod pull;
pub mod render;
pub mod run;
pub mod schema;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod status;
pub mod verify;

pub use crate::error::exit::{
    PROBLEMS as EXIT_PROBLEMS, TIMEOUT as EXIT_TIMEOUT, UNUSABLE as EXIT_UNUSABLE,
};

/// Build, check and publish HPE Synergy Image Streamer artifact bundles from source in git.
///
/// Exit codes: 0 success, 1 problems found (or differences, or a failed operation),
/// 2 could not run (bad arguments, unreadable input), 3 timed out waiting.
#[derive(Debug, Parser)]
#[command(name = "i3s-bundle", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("I3S_BUNDLE_COMMIT"), ")"), about, long_about)]
pub struct Cli {
    /// Quiet: only errors, the result asked for and security warnings; no progress or notes.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr: -v, -vv, -vvv (for an appliance: requests, headers, bodies;
    /// secrets are always redacted).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a bundle zip holds: manifest, checksums, plan scripts, plans, golden images.
    #[command(
        after_help = "Examples:\n  i3s-bundle inspect dist/docker.zip\n  i3s-bundle inspect dist/docker.zip --json"
    )]
    Inspect(inspect::Args),
    /// Check bundle zips: checksums, manifest, serial numbers, references. Exit 0 clean, 1 problems, 2 unreadable.
    #[command(
        after_help = "Examples:\n  i3s-bundle verify dist/*.zip\n  i3s-bundle verify --json dist/docker.zip"
    )]
    Verify(verify::Args),
    /// Compare two bundles artifact by artifact. Exit 0 equal, 1 different, 2 unreadable.
    #[command(
        after_help = "Examples:\n  i3s-bundle diff old/docker.zip dist/docker.zip\n  i3s-bundle diff --json old/docker.zip dist/docker.zip"
    )]
    Diff(diff::Args),
    /// Build the bundles of bundles-src/ into dist/ (only what changed).
    #[command(
        after_help = "Examples:\n  i3s-bundle build                 # from anywhere inside the project\n  i3s-bundle build --bundle docker --json\n  i3s-bundle build -C ~/bundles --archive"
    )]
    Build(build::Args),
    /// Print one rendered plan script, or write the files it would upload.
    #[command(
        after_help = "Examples:\n  i3s-bundle render debian12 hostname-ssh --attr SERVER_FQDN=web1.example.org\n  i3s-bundle render centos7.4 nic-bond --attrs-file attrs.env --format files --out /tmp/files"
    )]
    Render(render::Args),
    /// Turn an exported bundle zip into source (bundle TOML, plan scripts, registry entries).
    #[command(
        after_help = "Examples:\n  i3s-bundle import exported.zip          # into the project holding the current directory\n  i3s-bundle import exported.zip -C ~/bundles"
    )]
    Import(import::Args),
    /// Create a new repository skeleton with one working example bundle.
    #[command(
        after_help = "Examples:\n  i3s-bundle init my-bundles && cd my-bundles && i3s-bundle build"
    )]
    Init(init::Args),
    /// Check plan scripts, build plans and bundles for the mistakes appliances only find at deploy time.
    #[command(
        after_help = "Examples:\n  i3s-bundle lint                  # the project found from here upwards\n  i3s-bundle lint --json dist/\n  i3s-bundle lint --explain I3S031"
    )]
    Lint(lint::Args),
    /// Upload bundles to an appliance, extract them, and create or update deployment plans.
    #[command(
        after_help = "Examples:\n  # the appliance and credentials from ONEVIEWSDK_* (or --config FILE)\n  i3s-bundle publish dist/i3s-bundle-Debian12_*.zip --profile-template \"Docker Debian 12=i3s-bundle - Debian 12 - Docker Debian 12\"\n  i3s-bundle publish --config config.json --ca-cert appliance-ca.pem dist/*.zip --json"
    )]
    Publish(publish::Args),
    /// Compare bundles with what the appliance holds: equal, changed, missing, extra. Exit 0 in sync, 1 drift.
    #[command(
        after_help = "Examples:\n  i3s-bundle status                # every zip in dist/\n  i3s-bundle status dist/t_1.2.zip --json"
    )]
    Status(status::Args),
    /// Delete published bundle versions beyond the newest N per bundle, and what only they brought.
    #[command(
        after_help = "Examples:\n  i3s-bundle prune --keep 3 --dry-run\n  i3s-bundle prune --keep 2 --json"
    )]
    Prune(prune::Args),
    /// Download a bundle from the appliance.
    #[command(
        after_help = "Examples:\n  # the appliance and credentials from ONEVIEWSDK_* (or --config FILE)\n  i3s-bundle pull i3s-bundle-Debian12_2026.12.01 --out pulled.zip"
    )]
    Pull(pull::Args),
    /// Run the appliance simulator (Image Streamer + OneView subset) on loopback.
    #[command(
        after_help = "Examples:\n  I3S_SIM_CONSUL_TOKEN=demo-token i3s-bundle simulate --demo\n  i3s-bundle simulate --listen 127.0.0.1:8443 --tls --ca-cert-out ca.pem --state sim.json\n  i3s-bundle simulate --demo --boot-image debian12=d12.qcow2 --consul-tokens tokens --consul-policies templates/consul-policies"
    )]
    #[cfg(feature = "simulator")]
    Simulate(simulate::Args),
    /// Golden images: check, fake, pack, upload.
    #[command(
        subcommand,
        after_help = "Examples:\n  i3s-bundle golden-image fake --os centos7.4 --out disk.qcow2\n  i3s-bundle golden-image check disk.qcow2 --os centos7.4"
    )]
    GoldenImage(golden_image::Command),
    /// Run a build plan against a disk image with guestfish and show what it changed.
    #[command(
        after_help = "Examples:\n  i3s-bundle run bundles-src/debian12.toml \"i3s-bundle - Debian 12 - Docker\" --image d12.qcow2 --sample-attrs --boot\n  i3s-bundle run dist/i3s-bundle-CentOS7.4_2026.11.26.zip --all --image disk.qcow2 --sample-attrs --json"
    )]
    Run(run::Args),
    /// Provision a server from a use-case file and wait until it is up.
    #[command(
        after_help = "Examples:\n  # the appliance and credentials from ONEVIEWSDK_* (or --config FILE)\n  i3s-bundle deploy deployments/debian-01.toml --wait 15m\n  i3s-bundle deploy deployments/docker-03.toml --dry-run"
    )]
    Deploy(deploy::Args),
    /// Power off and delete the server profile of a use-case file.
    #[command(after_help = "Examples:\n  i3s-bundle undeploy deployments/docker-03.toml")]
    Undeploy(deploy::UndeployArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(
        after_help = "Examples:\n  source <(i3s-bundle completions bash)\n  i3s-bundle completions zsh > ~/.zfunc/_i3s-bundle"
    )]
    Completions(manual::CompletionsArgs),
    /// Write man pages, one per command (i3s-bundle.1, i3s-bundle-build.1, ...).
    #[command(
        after_help = "Examples:\n  i3s-bundle man --out target/man && man -l target/man/i3s-bundle-build.1"
    )]
    Man(manual::ManArgs),
}

impl Command {
    /// Whether the command was asked for JSON on stdout: then a failure is reported as a JSON
    /// object there too (crate::error::ErrorReport), so a script always reads JSON.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Inspect(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Diff(a) => a.json,
            Command::Build(a) => a.json,
            Command::Import(a) => a.json,
            Command::Init(a) => a.json,
            Command::Lint(a) => a.json || a.format == lint::Format::Json,
            Command::Publish(a) => a.json,
            Command::Status(a) => a.json,
            Command::Prune(a) => a.json,
            Command::Pull(a) => a.json,
            Command::GoldenImage(c) => c.wants_json(),
            Command::Run(a) => a.json,
            Command::Deploy(a) => a.json,
            Command::Undeploy(a) => a.json,
            #[cfg(feature = "simulator")]
            Command::Simulate(_) => false,
            Command::Render(_) | Command::Completions(_) | Command::Man(_) => false,
        }
    }
}

/// Prints a failure: `error: …` on stderr, and as JSON on stdout when JSON was asked for.
pub fn report_error(error: &crate::Error, json: bool) {
    eprintln!("error: {error}");
    if json {
        // Nothing better to do if stdout is gone too.
        let _ = print_json(&error.report());
    }
}

pub fn run(cli: Cli) -> crate::Result<ExitCode> {
    crate::terminal::set_level(cli.quiet, cli.verbose);
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
        Command::Status(args) => status::run(args),
        Command::Prune(args) => prune::run(args),
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => simulate::run(args),
        Command::GoldenImage(command) => golden_image::run(command),
        Command::Run(args) => run::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Undeploy(args) => deploy::undeploy(args),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::man(args),
    }
}

/// Limits for reading bundle zips (zip-bomb protection).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadLimits {
    /// Largest JSON, manifest or checksum entry (declared or inflated): 64MiB, 512K, or bytes.
    #[arg(long, value_name = "SIZE", default_value_t = Size(ReadOptions::default().max_entry_size))]
    pub max_entry_size: Size,
    /// Largest golden image payload: 4TiB, 500G, or bytes.
    #[arg(long, value_name = "SIZE", default_value_t = Size(ReadOptions::default().max_payload_size))]
    pub max_payload_size: Size,
}

impl ReadLimits {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            max_entry_size: self.max_entry_size.0,
            max_payload_size: self.max_payload_size.0,
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
