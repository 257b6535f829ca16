use crate::image::{self, OsDefinition};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a raw or qcow2 image (read-only) against the OS's golden image requirements.
    /// One line per requirement. Exit 0 all pass, 1 some fail, 2 could not run.
    Check {
        image: PathBuf,
        /// The OS: a name under golden-images/ (e.g. centos7.4) or a path to its directory.
        #[arg(long)]
        os: String,
        /// Also check that generalize did its job (a captured golden image).
        #[arg(long)]
        captured: bool,
        /// Repository holding golden-images/ (default: the current directory or a parent).
        #[arg(long)]
        repo: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Create a small image with the OS's golden image structure (partitions, LVM, ext4 root,
    /// the files the plans touch), without a real OS. `.qcow2` names give qcow2, others raw.
    Fake {
        #[arg(long)]
        os: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "256M")]
        size: String,
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// Write the golden image payload the appliance takes: a zip holding the one raw disk image.
    Pack {
        image: PathBuf,
        /// The golden image name (the payload entry in a bundle is named exactly like it).
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Upload a golden image payload (from `pack`) to the appliance, streamed, with a progress
    /// bar. Idempotent: the same name and content again changes nothing; the same name with
    /// other content is refused. Connection settings as for `publish`.
    Upload {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        connection: super::publish::ConnectionArgs,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command) -> crate::Result<ExitCode> {
    match command {
        Command::Check {
            image,
            os,
            captured,
            repo,
            json,
        } => {
            let os = OsDefinition::find(&os, repo.as_deref())?;
            let report = image::check(&image, &os, captured)?;
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
                eprintln!(
                    "{}: {} of {} checks pass",
                    image.display(),
                    report.results.len() - failed,
                    report.results.len()
                );
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(super::EXIT_PROBLEMS)
            })
        }
        Command::Fake {
            os,
            out,
            size,
            repo,
        } => {
            let os = OsDefinition::find(&os, repo.as_deref())?;
            let size = image::fake::parse_size(&size)?;
            let report = image::fake(&os, &out, size)?;
            eprintln!(
                "{}: fake {} image ({:.1} s)",
                out.display(),
                os.profile.id,
                report.elapsed.as_secs_f64()
            );
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
        } => {
            let digest = image::upload::payload_digest(&file)?;
            let size = digest.1;
            let client = connection.connect()?;
            let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                indicatif::ProgressBar::new(size)
            } else {
                indicatif::ProgressBar::hidden()
            };
            let report = match image::upload::upload_checked(
                &client,
                &file,
                digest,
                &name,
                description.as_deref(),
                &|sent| bar.set_position(sent),
            ) {
                Ok(report) => report,
                Err(error @ crate::Error::Usage(_)) => return Err(error),
                // Refused (the name holds other content) or failed on the way: exit 1, as for
                // every operation that ran and did not succeed.
                Err(error) => {
                    bar.finish_and_clear();
                    eprintln!("error: {error}");
                    return Ok(ExitCode::from(super::EXIT_PROBLEMS));
                }
            };
            bar.finish_and_clear();
            if json {
                super::print_json(&report)?;
            } else {
                let action = match report.action {
                    image::upload::UploadAction::Created => "uploaded",
                    image::upload::UploadAction::Unchanged => "already there, unchanged",
                };
                println!(
                    "{name}: {action} ({}, {} bytes, sha256 {})",
                    report.uri, report.size, report.sha256
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
