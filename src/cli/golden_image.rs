use crate::image::{self, OsDefinition};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a raw or qcow2 image (read-only) against the OS's golden image requirements and
    /// the posture of its profile. One line per requirement. Exit 0 all pass, 1 some fail, 2
    /// could not run.
    #[command(
        after_help = "Examples:\n  i3s-bundle golden-image check disk.qcow2 --os centos7.4 --bundle dist/docker.zip"
    )]
    Check {
        /// The raw or qcow2 disk image to check (opened read-only).
        image: PathBuf,
        /// The OS: a name under golden-images/ (e.g. centos7.4) or a path to its directory.
        /// The OS: a directory name under golden-images/ (e.g. centos7.4).
        #[arg(long)]
        os: String,
        /// Also check that generalize did its job (a captured golden image).
        #[arg(long)]
        captured: bool,
        /// Also check every path this bundle's build plans need before they run (derived from
        /// their plan scripts). Repeatable.
        #[arg(long = "bundle", value_name = "B.zip")]
        bundles: Vec<PathBuf>,
        /// Repository holding golden-images/ (default: the current directory or a parent).
        /// The project directory (holds golden-images/; default: the current directory or the
        /// nearest parent that is a project). `--repo` is an old spelling.
        #[arg(long = "root", short = 'C', alias = "repo", value_name = "DIR")]
        repo: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build a real golden image of the OS from its distribution's archive, following
    /// golden-images/<os>/recipe.toml (mmdebstrap, then one guestfish launch: disk layout of the
    /// profile, the tree, fstab, grub-pc). `.qcow2` names give qcow2, others raw. Writes
    /// IMG.manifest (packages, hashes) and IMG.files (file list) next to the image.
    #[command(
        after_help = "Examples:\n  i3s-bundle golden-image build --os debian12 --out debian12.qcow2 --cache ~/.cache/debs"
    )]
    Build {
        /// The OS: a directory name under golden-images/ (e.g. centos7.4).
        #[arg(long)]
        os: String,
        /// The image or payload file to write.
        #[arg(long)]
        out: PathBuf,
        /// Archive to install from instead of the recipe's mirror/snapshot.
        #[arg(long)]
        mirror: Option<String>,
        /// Directory keeping the downloaded .debs between builds.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Build the tree and write only IMG.manifest and IMG.files (no disk, no guestfish):
        /// compare them with an earlier build's to check a rebuild is the same.
        #[arg(long)]
        manifest_only: bool,
        /// The project directory (holds golden-images/; default: the current directory or the
        /// nearest parent that is a project). `--repo` is an old spelling.
        #[arg(long = "root", short = 'C', alias = "repo", value_name = "DIR")]
        repo: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a small image with the OS's golden image structure (partitions, LVM, ext4 root,
    /// the files the plans touch), without a real OS. `.qcow2` names give qcow2, others raw.
    #[command(
        after_help = "Examples:\n  i3s-bundle golden-image fake --os centos7.4 --out disk.qcow2 --size 512M"
    )]
    Fake {
        /// The OS: a directory name under golden-images/ (e.g. centos7.4).
        #[arg(long)]
        os: String,
        /// The image or payload file to write.
        #[arg(long)]
        out: PathBuf,
        /// The disk size: 256M, 1G, 1.5GiB (K, M, G, T are powers of 1024), or bytes.
        #[arg(long, value_name = "SIZE", default_value = "256MiB")]
        size: crate::units::Size,
        /// Print what was written as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// The project directory (holds golden-images/; default: the current directory or the
        /// nearest parent that is a project). `--repo` is an old spelling.
        #[arg(long = "root", short = 'C', alias = "repo", value_name = "DIR")]
        repo: Option<PathBuf>,
    },
    /// Write the golden image payload the appliance takes: a zip holding the one raw disk image.
    #[command(
        after_help = "Examples:\n  i3s-bundle golden-image pack disk.raw --name centos7.4 --out centos7.4.zip"
    )]
    Pack {
        /// The raw disk image to pack.
        image: PathBuf,
        /// The golden image name (the payload entry in a bundle is named exactly like it).
        #[arg(long)]
        name: String,
        /// The image or payload file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Upload a golden image payload (from `pack`) to the appliance, streamed, with a progress
    /// bar. Idempotent: the same name and content again changes nothing; the same name with
    /// other content is refused. Connection settings as for `publish`.
    #[command(
        after_help = "Examples:\n  # the appliance and credentials from ONEVIEWSDK_* (or --config FILE)\n  i3s-bundle golden-image pack d12.qcow2 --name \"Debian 12 Golden Image\" --out d12.zip\n  i3s-bundle golden-image upload d12.zip --name \"Debian 12 Golden Image\""
    )]
    Upload {
        /// The payload zip written by `golden-image pack`.
        file: PathBuf,
        /// The golden image name on the appliance.
        #[arg(long)]
        name: String,
        /// The golden image description on the appliance.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        connection: super::publish::ConnectionArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Check { json, .. }
            | Command::Build { json, .. }
            | Command::Fake { json, .. }
            | Command::Pack { json, .. }
            | Command::Upload { json, .. } => *json,
        }
    }
}

pub fn run(command: Command) -> crate::Result<ExitCode> {
    match command {
        Command::Check {
            image,
            os,
            captured,
            bundles,
            repo,
            json,
        } => check(image, os, captured, bundles, repo, json),
        Command::Build {
            os,
            out,
            mirror,
            cache,
            manifest_only,
            repo,
            json,
        } => build(os, out, mirror, cache, manifest_only, repo, json),
        Command::Fake {
            os,
            out,
            size,
            repo,
            json,
        } => {
            let os = OsDefinition::find(&os, repo.as_deref())?;
            let report = image::fake(&os, &out, size.0)?;
            if json {
                super::print_json(&FakeReport {
                    os: os.profile.id.clone(),
                    images: report.images,
                    size: size.0,
                    elapsed_secs: report.elapsed.as_secs_f64(),
                })?;
            } else {
                crate::terminal::note(format!(
                    "{}: fake {} image ({:.1} s)",
                    out.display(),
                    os.profile.id,
                    report.elapsed.as_secs_f64()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack {
            image,
            name,
            out,
            json,
        } => {
            let report = image::pack::pack(&image, &name, &out)?;
            if json {
                super::print_json(&report)?;
            } else {
                println!(
                    "{}: payload for {name:?}: entry {} ({} bytes raw image), zip {} bytes, sha256 {}",
                    out.display(),
                    report.entry,
                    report.image_size,
                    report.payload_size,
                    report.payload_sha256
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Upload {
            file,
            name,
            description,
            connection,
            json,
        } => upload(file, name, description, connection, json),
    }
}

/// `golden-image check`: every requirement, PASS or FAIL.
fn check(
    image: PathBuf,
    os: String,
    captured: bool,
    bundles: Vec<PathBuf>,
    repo: Option<PathBuf>,
    json: bool,
) -> crate::Result<ExitCode> {
    let os = OsDefinition::find(&os, repo.as_deref())?;
    let mut loaded = Vec::new();
    for path in &bundles {
        loaded.push(crate::bundle::read_bundle(path, &Default::default())?.bundle);
    }
    let refs: Vec<&crate::bundle::Bundle> = loaded.iter().collect();
    let needs: Vec<_> = image::needs::bundle_needs(&refs)
        .iter()
        .map(image::needs::Need::requirement)
        .collect();
    let report = image::check(&image, &os, captured, &needs)?;
    if json {
        super::print_json(&report)?;
    } else {
        for r in &report.results {
            println!(
                "{} {:<28} {} — found: {}",
                if r.passed { "PASS" } else { "FAIL" },
                r.id,
                r.description,
                r.found
            );
        }
        let failed = report.results.iter().filter(|r| !r.passed).count();
        crate::terminal::note(format!(
            "{}: {} of {} checks pass",
            image.display(),
            report.results.len() - failed,
            report.results.len()
        ));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEMS)
    })
}

/// `golden-image build`: the image (or only its manifest) and what it holds.
fn build(
    os: String,
    out: PathBuf,
    mirror: Option<String>,
    cache: Option<PathBuf>,
    manifest_only: bool,
    repo: Option<PathBuf>,
    json: bool,
) -> crate::Result<ExitCode> {
    let os = OsDefinition::find(&os, repo.as_deref())?;
    let report = build_with_progress(&os, out, mirror, cache, manifest_only)?;
    if json {
        super::print_json(&report)?;
    } else if manifest_only {
        println!(
            "{}: {} tree of {} packages, no disk (--manifest-only); files {}",
            report.manifest.display(),
            os.profile.id,
            report.packages,
            report.files.display()
        );
    } else {
        println!(
            "{}: {} {} image, {} bytes, {} packages (manifest {})",
            report.image.display(),
            os.profile.id,
            report.format.as_str(),
            report.image_bytes,
            report.packages,
            report.manifest.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `golden-image upload`: the payload, unless the same one is there already.
fn upload(
    file: PathBuf,
    name: String,
    description: Option<String>,
    connection: super::publish::ConnectionArgs,
    json: bool,
) -> crate::Result<ExitCode> {
    let digest = crate::appliance::golden_image::payload_digest(&file)?;
    let size = digest.1;
    let client = connection.connect()?;
    let bar = if crate::terminal::live_progress() {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = crate::appliance::golden_image::upload_checked(
        &client,
        &file,
        digest,
        &name,
        description.as_deref(),
        &|sent| bar.set_position(sent),
    );
    bar.finish_and_clear();
    // Logged in, then refused or failed on the appliance (docs/commands.md: exit 1); a bad
    // argument stays one.
    let report = result.map_err(|e| match e {
        e @ crate::Error::Usage(_) => e,
        e => e.failed(),
    })?;
    if json {
        super::print_json(&report)?;
    } else {
        let action = match report.action {
            crate::appliance::golden_image::UploadAction::Created => "uploaded",
            crate::appliance::golden_image::UploadAction::Unchanged => "already there, unchanged",
        };
        println!(
            "{name}: {action} ({}, {} bytes, sha256 {})",
            report.uri, report.size, report.sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the build with one progress line per phase on stderr (a spinner while it runs when stderr
/// is a terminal), and each phase's time when it ends.
fn build_with_progress(
    os: &OsDefinition,
    out: PathBuf,
    mirror: Option<String>,
    cache: Option<PathBuf>,
    manifest_only: bool,
) -> crate::Result<image::build::BuildReport> {
    use std::cell::RefCell;
    use std::time::Instant;
    let terminal = crate::terminal::live_progress();
    let spinner = if terminal {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let current: RefCell<Option<(String, Instant)>> = RefCell::new(None);
    let finish = |current: &mut Option<(String, Instant)>| {
        if let Some((line, started)) = current.take() {
            spinner.suspend(|| {
                crate::terminal::note(format!(
                    "{line}: done ({})",
                    image::build::seconds(started.elapsed())
                ))
            });
        }
    };
    let options = image::build::BuildOptions {
        os,
        out,
        mirror,
        cache,
        manifest_only,
    };
    let result = image::build::build(&options, &|_phase, line| {
        finish(&mut current.borrow_mut());
        if !terminal {
            crate::terminal::note(format!("{line} ..."));
        }
        spinner.set_message(line.to_string());
        *current.borrow_mut() = Some((line.to_string(), Instant::now()));
    });
    if result.is_ok() {
        finish(&mut current.borrow_mut());
    }
    spinner.finish_and_clear();
    result
}

/// `golden-image fake --json`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct FakeReport {
    pub os: String,
    pub images: Vec<PathBuf>,
    /// Bytes.
    pub size: u64,
    pub elapsed_secs: f64,
}
