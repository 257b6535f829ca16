use super::publish::ConnectionArgs;
use crate::deploy::flow::Event;
use crate::deploy::{self, DeployOptions, Outcome, Report, usecase};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The use-case file (deployments/<name>.toml; format in README.md).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Check everything and print the profile that would be created; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for the node to report ready in Consul after power-on (e.g. 90s, 30m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub wait: Duration,
    /// Print the report as JSON on stdout (instead of progress lines).
    #[arg(long)]
    pub json: bool,
    /// Replace a profile of the same name on the same server (power off, delete, create).
    #[arg(long)]
    pub replace: bool,
    /// Interval between Consul reads while waiting (e.g. 5s, 200ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration, hide = true)]
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

/// `90`, `90s`, `500ms`, `30m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 30m, 1h)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
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
        if !args.json {
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
        return Err(crate::Error::Usage(format!("{}: {p}", args.file.display())));
    }
    let client = args.connection.connect()?;
    let mut events = |e: &Event| {
        if !args.json {
            print_event(e)
        }
    };
    let report = deploy::undeploy(&client, &use_case, &mut events);
    finish(&report, args.json, false)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;
    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
