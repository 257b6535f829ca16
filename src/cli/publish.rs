use crate::appliance::{Client, Settings, SettingsOverrides, Timing, log::Log, settings};
use crate::publish::{self, Outcome, PublishOptions};
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
    /// Overall limit for one appliance task (e.g. 90s, 30m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::units::parse_duration)]
    pub task_timeout: Duration,
    /// Limit for opening a connection to an appliance (TCP and TLS handshake) [default: the
    /// HPE SDK's ONEVIEWSDK_CONNECTION_TIMEOUT or config "timeout" (seconds), else 30s].
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Limit for an answer to start, and for each read of it (a long download goes on as long
    /// as data keeps coming). A server that accepts and never answers is given up on after this
    /// [default: ONEVIEWSDK_CONNECTION_TIMEOUT or config "timeout", else 2m].
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration)]
    pub read_timeout: Option<Duration>,
    /// An upload the appliance takes no data of for this long is abandoned (exit 1), however
    /// long the whole upload takes.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::units::parse_duration)]
    pub stall_timeout: Duration,
    /// First interval between task polls (grows to 10 s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::units::parse_duration, hide = true)]
    pub poll_interval: Duration,
    /// First delay before repeating a failed safe request (doubles).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = crate::units::parse_duration, hide = true)]
    pub retry_delay: Duration,
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
                crate::terminal::alert(format!(
                    "--insecure: {base} is plain http: the password and session token go over the network UNENCRYPTED"
                ));
            }
            if settings.oneview.is_https() || settings.image_streamer.is_https() {
                crate::terminal::alert(
                    "--insecure: TLS certificates are NOT verified; anyone on the path can read the session and password",
                );
            }
        }
        Ok(settings)
    }

    /// The time bounds: a flag, else the SDK's one connection timeout of `settings`, else ours.
    pub fn timing(&self, settings: &Settings) -> Timing {
        let sdk = settings.connection_timeout;
        let poll = self.poll_interval;
        Timing {
            attempts: self.attempts.max(1),
            retry_base: self.retry_delay,
            retry_max: Duration::from_secs(10).max(self.retry_delay),
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
        Client::connect(
            &settings,
            self.timing(&settings),
            Log::new(crate::terminal::level().max(0) as u8),
        )
        .map_err(|e| crate::Error::Login {
            base: settings.oneview.base.clone(),
            source: Box::new(e),
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
    /// Where the built bundle zips are (for --all). Default: dist/ of the project holding the
    /// current directory (found as `build` finds it), else ./dist.
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,
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

/// `--dist` as given, else `dist/` of the project holding the current directory, else `./dist`.
pub fn dist_dir(given: Option<&std::path::Path>) -> PathBuf {
    match given {
        Some(dir) => dir.to_path_buf(),
        None => super::project::find_from_cwd()
            .map(|root| root.join("dist"))
            .unwrap_or_else(|_| PathBuf::from("dist")),
    }
}

/// Every bundle zip in `dist`, sorted (publish --all, status, the Ansible modules).
pub fn zips_in(dist: &std::path::Path) -> crate::Result<Vec<PathBuf>> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dist)
        .map_err(|e| crate::Error::io(dist, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")))
        .collect();
    zips.sort();
    if zips.is_empty() {
        return Err(crate::Error::Usage(format!(
            "{}: no bundle zips (run i3s-bundle build)",
            dist.display()
        )));
    }
    Ok(zips)
}

pub(super) fn pair(text: &str) -> crate::Result<(String, String)> {
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
        zips_in(&dist_dir(args.dist.as_deref()))?
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
    let options = PublishOptions {
        dry_run: args.dry_run,
        replace: args.replace,
        profile_templates: args.profile_templates.clone(),
        show_progress: !args.json && crate::terminal::live_progress(),
    };
    let report = publish::publish(&client, &sources, &options);
    drop(client);
    finish(&report, args.json, report.render(), report.outcome)
}

/// Prints a report (JSON, or its text) and turns its outcome into the exit code; publish and
/// prune share it.
pub(super) fn finish<T: serde::Serialize>(
    report: &T,
    json: bool,
    text: String,
    outcome: Outcome,
) -> crate::Result<ExitCode> {
    if json {
        super::print_json(report)?;
    } else {
        print!("{text}");
    }
    Ok(match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(super::EXIT_PROBLEMS),
    })
}
