use super::publish::ConnectionArgs;
use crate::deploy::flow::Event;
use crate::deploy::{self, DeployOptions, Outcome, Report, usecase};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The use-case file (deployments/<name>.toml; format in docs/deploy.md).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Check everything and print the profile that would be created; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for the node to report ready in Consul after power-on (e.g. 90s, 30m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::units::parse_duration)]
    pub wait: Duration,
    /// Print the report as JSON on stdout (instead of progress lines).
    #[arg(long)]
    pub json: bool,
    /// Replace a profile of the same name on the same server (power off, delete, create).
    #[arg(long)]
    pub replace: bool,
    /// Interval between Consul reads while waiting (e.g. 5s, 200ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::parse_duration, hide = true)]
    pub consul_poll: Duration,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, clap::Args)]
pub struct UndeployArgs {
    /// The use-case file whose server profile is removed.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn print_event(event: &Event) {
    println!(
        "[{:>7.1}s] {}: {}",
        event.elapsed.as_secs_f64(),
        event.phase,
        event.message
    );
}

fn finish(report: &Report, json: bool, show_body: bool) -> crate::Result<ExitCode> {
    if json {
        super::print_json(report)?;
    } else {
        if show_body && let Some(body) = &report.profile_body {
            println!("profile that would be created (secret values shown as ***):");
            super::print_json(body)?;
        }
        println!("{}", report.summary());
    }
    Ok(match report.outcome {
        Outcome::Ready | Outcome::Valid | Outcome::Removed => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(super::EXIT_PROBLEMS),
        Outcome::TimedOut => ExitCode::from(super::EXIT_TIMEOUT),
    })
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let (use_case, problems) = usecase::load(&args.file, &|name| std::env::var(name).ok())?;
    let client = args.connection.connect()?;
    let options = DeployOptions {
        dry_run: args.dry_run,
        replace: args.replace,
        wait: args.wait,
        poll: args.consul_poll,
    };
    let mut events = |e: &Event| {
        if !args.json && !crate::terminal::quiet() {
            print_event(e)
        }
    };
    let report = deploy::deploy(&client, &use_case, problems, &options, &mut events);
    finish(&report, args.json, args.dry_run)
}

pub fn undeploy(args: UndeployArgs) -> crate::Result<ExitCode> {
    // Undeploy needs no attribute values and no Consul token: problems with those do not matter.
    let (use_case, problems) = usecase::load(&args.file, &|name| std::env::var(name).ok())?;
    if let Some(p) = problems
        .iter()
        .find(|p| p.key == "profile" || p.key.starts_with("server"))
    {
        let mut place = crate::error::Location::file(&args.file);
        place.line = p.line;
        return Err(crate::Error::at(place, format!("{}: {}", p.key, p.message)));
    }
    let client = args.connection.connect()?;
    let mut events = |e: &Event| {
        if !args.json && !crate::terminal::quiet() {
            print_event(e)
        }
    };
    let report = deploy::undeploy(&client, &use_case, &mut events);
    finish(&report, args.json, false)
}
