use crate::appliance::{Client, Settings, SettingsOverrides, Timing, log::Log, settings};
use crate::publish::{self, Outcome, PublishOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How to reach and log in to the appliances; shared by `publish`, `pull` (and `deploy`).
/// The password comes from ONEVIEWSDK_PASSWORD or the config file, never from an argument.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// python-hpOneView style config.json (ip, image_streamer_ip, api_version, ssl_certificate,
    /// proxy, timeout, credentials);
    /// ONEVIEWSDK_* environment variables override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Trust only this CA certificate (PEM), e.g. the appliance's self-signed one.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify TLS certificates, and allow plain http:// addresses (the password then
    /// crosses the network unencrypted); prints a warning. Only for labs and simulators.
    #[arg(long)]
    pub insecure: bool,
    /// More log lines on stderr: -v requests, -vv headers, -vvv bodies (secrets always redacted).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Overall limit for one appliance task (e.g. 90s, 30m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub task_timeout: Duration,
    /// Limit for opening a connection to an appliance (TCP and TLS handshake) [default: the
    /// HPE SDK's ONEVIEWSDK_CONNECTION_TIMEOUT or config "timeout" (seconds), else 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Limit for an answer to start, and for each read of it (a long download goes on as long
    /// as data keeps coming). A server that accepts and never answers is given up on after this
    /// [default: ONEVIEWSDK_CONNECTION_TIMEOUT or config "timeout", else 2m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,
    /// An upload the appliance takes no data of for this long is abandoned (exit 1), however
    /// long the whole upload takes.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub stall_timeout: Duration,
    /// First interval between task polls, in milliseconds (grows to 10 s).
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub poll_interval: u64,
    /// First delay before repeating a failed safe request, in milliseconds (doubles).
    #[arg(long, value_name = "MS", default_value_t = 500, hide = true)]
    pub retry_delay: u64,
    /// Attempts for requests that are safe to repeat.
    #[arg(long, value_name = "N", default_value_t = 5, hide = true)]
    pub attempts: u32,
}

impl ConnectionArgs {
    pub fn settings(&self) -> crate::Result<Settings> {
        let overrides = SettingsOverrides {
            config: self.config.clone(),
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
        };
        let env = std::env::vars().collect();
        let settings = settings::load(&overrides, &env)?;
        if self.insecure {
            for base in settings.cleartext() {
                eprintln!(
                    "WARNING: --insecure: {base} is plain http: the password and session token go over the network UNENCRYPTED"
                );
            }
            if settings.oneview.is_https() || settings.image_streamer.is_https() {
                eprintln!(
                    "warning: --insecure: TLS certificates are NOT verified; anyone on the path can read the session and password"
                );
            }
        }
        Ok(settings)
    }

    /// The time bounds: a flag, else the SDK's one connection timeout of `settings`, else ours.
    pub fn timing(&self, settings: &Settings) -> Timing {
        let sdk = settings.connection_timeout;
        let poll = Duration::from_millis(self.poll_interval.max(1));
        Timing {
            attempts: self.attempts.max(1),
            retry_base: Duration::from_millis(self.retry_delay),
            retry_max: Duration::from_secs(10).max(Duration::from_millis(self.retry_delay)),
            poll_initial: poll,
            poll_max: Duration::from_secs(10).max(poll),
            task_timeout: self.task_timeout,
            connect_timeout: self
                .connect_timeout
                .or(sdk)
                .unwrap_or(Duration::from_secs(30)),
            read_timeout: self
                .read_timeout
                .or(sdk)
                .unwrap_or(Duration::from_secs(120)),
            stall_timeout: self.stall_timeout,
        }
    }

    /// Logs in; a failure here means nothing was attempted (exit 2).
    pub fn connect(&self) -> crate::Result<Client> {
        let settings = self.settings()?;
        Client::connect(&settings, self.timing(&settings), Log::new(self.verbose)).map_err(|e| {
            crate::Error::Login {
                base: settings.oneview.base.clone(),
                source: Box::new(e),
            }
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle zips to publish (each is named on the appliance after its file name).
    #[arg(value_name = "BUNDLE.zip", required_unless_present = "all")]
    pub bundles: Vec<PathBuf>,
    /// Publish every zip in --dist.
    #[arg(long, conflicts_with = "bundles")]
    pub all: bool,
    /// Where the built bundle zips are (for --all).
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dist: PathBuf,
    /// Show the full plan (create / update with a field diff / unchanged); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Delete and upload again a bundle whose name exists on the appliance with other content.
    #[arg(long)]
    pub replace: bool,
    /// Attach golden image IMAGE to deployment plan PLAN (overrides the build's sidecar file).
    #[arg(long = "golden-image", value_name = "PLAN=IMAGE", value_parser = pair)]
    pub golden_images: Vec<(String, String)>,
    /// Point server profile template NAME at deployment plan PLAN (repeatable).
    #[arg(long = "profile-template", value_name = "NAME=PLAN", value_parser = pair)]
    pub profile_templates: Vec<(String, String)>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// A duration flag: `90s`, `500ms`, `30m`, `1h 30m` (humantime's syntax), or a bare number of
/// seconds (what `--task-timeout` always took). Zero is refused: it would mean "no bound" to the
/// HTTP client, or give up at once.
pub fn parse_duration(text: &str) -> crate::Result<Duration> {
    let text = text.trim();
    let usage = crate::Error::Usage;
    let parsed = match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|e| usage(format!("{text:?}: {e}"))),
        Err(_) => humantime::parse_duration(text).map_err(|e| {
            usage(format!(
                "{text:?} is not a duration (e.g. 90s, 500ms, 30m, 1h): {e}"
            ))
        }),
    }?;
    if parsed.is_zero() {
        return Err(usage(format!(
            "{text:?}: a duration must be more than zero"
        )));
    }
    Ok(parsed)
}

fn pair(text: &str) -> crate::Result<(String, String)> {
    match text.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            Ok((a.trim().to_string(), b.trim().to_string()))
        }
        _ => Err(crate::Error::Usage(format!(
            "{text:?}: expected NAME=VALUE"
        ))),
    }
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let paths = if args.all {
        let mut zips: Vec<PathBuf> = std::fs::read_dir(&args.dist)
            .map_err(|e| crate::Error::io(&args.dist, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")))
            .collect();
        zips.sort();
        if zips.is_empty() {
            return Err(crate::Error::Usage(format!(
                "{}: no bundle zips to publish (run i3s-bundle build)",
                args.dist.display()
            )));
        }
        zips
    } else {
        args.bundles.clone()
    };
    // Everything local is checked before the first request.
    let sources = paths
        .iter()
        .map(|p| publish::source::load(p, &args.golden_images))
        .collect::<crate::Result<Vec<_>>>()?;
    publish::source::check_overlaps(&sources)?;
    for (plan, _) in &args.golden_images {
        if !sources
            .iter()
            .any(|s| s.bundle.deployment_plans.iter().any(|p| p.name == *plan))
        {
            return Err(crate::Error::Usage(format!(
                "--golden-image {plan}=…: no bundle has a deployment plan named {plan:?}"
            )));
        }
    }
    let client = args.connection.connect()?;
    let in_ci = std::env::var_os("CI").is_some();
    let options = PublishOptions {
        dry_run: args.dry_run,
        replace: args.replace,
        profile_templates: args.profile_templates.clone(),
        show_progress: !args.json && !in_ci && std::io::stderr().is_terminal(),
    };
    let report = publish::publish(&client, &sources, &options);
    drop(client);
    if args.json {
        super::print_json(&report)?;
    } else {
        print!("{}", report.render());
    }
    Ok(match report.outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(super::EXIT_PROBLEMS),
    })
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
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-3").is_err());
    }
}
