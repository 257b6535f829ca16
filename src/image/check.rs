//! `golden-image check`: read an image (raw or qcow2) read-only with guestfish and evaluate the
//! OS's requirements: those of `requirements.toml`, the profile's `[posture]`
//! ([`posture_requirements`]) and, with `--bundle`, what the bundles' plans need
//! ([`super::needs`]). Several images share one launch (one appliance start is ~20 s).
use super::listing::{self, Listing};
use super::os::OsDefinition;
use super::requirements::{
    CheckResult, ImageFacts, Phase, Requirement, evaluate, posture_requirements,
};
use crate::error::{Error, Result};
use crate::guestfish::driver::{self, DiskFormat, Drive, Script};
use std::path::{Path, PathBuf};

/// The result of checking one image.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub image: PathBuf,
    pub os: String,
    pub captured: bool,
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
    pub fn result(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }
}

/// One image to check.
#[derive(Debug, Clone)]
pub struct CheckJob<'a> {
    pub image: PathBuf,
    pub os: &'a OsDefinition,
    /// Also check what generalize must have removed.
    pub captured: bool,
    /// More requirements (what bundles' plans need: [`super::needs::Need::requirement`]).
    pub extra: &'a [Requirement],
}

impl CheckJob<'_> {
    /// Everything this image is checked against, in report order: `requirements.toml` (image
    /// phase, then captured with `--captured`), the posture, the extra requirements.
    fn requirements(&self) -> Vec<Requirement> {
        let mut all: Vec<Requirement> = self
            .os
            .requirements
            .iter()
            .filter(|r| r.phase == Phase::Image || self.captured)
            .cloned()
            .collect();
        if let Some(posture) = &self.os.posture {
            all.extend(posture_requirements(posture));
        }
        all.extend(self.extra.iter().cloned());
        all
    }
}

pub fn check(
    image: &Path,
    os: &OsDefinition,
    captured: bool,
    extra: &[Requirement],
) -> Result<CheckReport> {
    Ok(check_many(&[CheckJob {
        image: image.to_path_buf(),
        os,
        captured,
        extra,
    }])?
    .remove(0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Setup,
    Mount(usize),
}

/// Checks several images in one guestfish launch.
pub fn check_many(jobs: &[CheckJob<'_>]) -> Result<Vec<CheckReport>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let work = tempfile::Builder::new()
        .prefix("i3s-check-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let drives = drives_of(jobs)?;
    let script = read_back_script(jobs, work.path());
    let outcome = driver::run_script(&drives, &script.text())?;
    let errors = driver::error_lines(&outcome.stderr);
    if !outcome.success {
        return Err(Error::other(format!(
            "guestfish could not read the image(s): {}",
            driver::error_summary(&outcome.stderr)
        )));
    }
    let mut reports = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let facts = facts_of(i, job, work.path(), &errors, &script);
        let results = job
            .requirements()
            .iter()
            .map(|r| evaluate(r, &facts, &job.os.profile.root_lv, &job.os.profile.vg))
            .collect();
        reports.push(CheckReport {
            image: job.image.clone(),
            os: job.os.profile.id.clone(),
            captured: job.captured,
            results,
        });
    }
    Ok(reports)
}

/// The images, read-only; an image that is not a file is a usage error.
fn drives_of(jobs: &[CheckJob<'_>]) -> Result<Vec<Drive>> {
    let mut drives = Vec::new();
    for job in jobs {
        if !job.image.is_file() {
            return Err(Error::Usage(format!(
                "{}: no such image file",
                job.image.display()
            )));
        }
        drives.push(Drive {
            path: job.image.clone(),
            format: DiskFormat::detect(&job.image)?,
            read_only: true,
        });
    }
    Ok(drives)
}

/// Where job `i`'s read-back `name` goes in the work directory.
fn local_file(work: &Path, i: usize, name: &str) -> PathBuf {
    work.join(format!("{i}-{name}"))
}

/// One guestfish script reading back every image: LVs, VGs, the root LV's file system type,
/// its listing and the files the requirements need.
fn read_back_script(jobs: &[CheckJob<'_>], work: &Path) -> Script<Origin> {
    let mut script = Script::new();
    script.line("run", Origin::Setup);
    let file_local = |i: usize, name: &str| local_file(work, i, name);
    for (i, job) in jobs.iter().enumerate() {
        let root = &job.os.profile.root_lv;
        if jobs.len() > 1 {
            script.line(
                format!("lvm-set-filter {}", driver::device_name(i)),
                Origin::Setup,
            );
        }
        script.line(
            format!(
                "-lvs | cat > {}",
                driver::shell_quote(&file_local(i, "lvs"))
            ),
            Origin::Setup,
        );
        script.line(
            format!(
                "-vgs | cat > {}",
                driver::shell_quote(&file_local(i, "vgs"))
            ),
            Origin::Setup,
        );
        script.line(
            format!(
                "-vfs-type {root} | cat > {}",
                driver::shell_quote(&file_local(i, "vfs"))
            ),
            Origin::Setup,
        );
        script.line(format!("-mount-ro {root} /"), Origin::Mount(i));
        script.line(
            listing::list_command(&file_local(i, "listing")),
            Origin::Setup,
        );
        for (n, path) in needed_files(job).iter().enumerate() {
            script.line(
                format!(
                    "-download {} {}",
                    driver::quote(path),
                    driver::quote(&file_local(i, &format!("file{n}")).display().to_string())
                ),
                Origin::Setup,
            );
        }
        script.line("-umount-all", Origin::Setup);
    }
    script
}

/// What the read-back says about job `i`'s image.
fn facts_of(
    i: usize,
    job: &CheckJob<'_>,
    work: &Path,
    errors: &[driver::ErrorLine],
    script: &Script<Origin>,
) -> ImageFacts {
    let file_local = |i: usize, name: &str| local_file(work, i, name);
    let read =
        |i: usize, name: &str| std::fs::read_to_string(file_local(i, name)).unwrap_or_default();
    let mount_error = errors
        .iter()
        .find(|e| e.line.and_then(|l| script.origin(l)) == Some(&Origin::Mount(i)))
        .map(|e| e.message.clone());
    let mut facts = ImageFacts {
        lvs: read(i, "lvs")
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect(),
        vgs: read(i, "vgs")
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect(),
        root_fs: Some(read(i, "vfs").trim().to_string()).filter(|s| !s.is_empty()),
        listing: Listing::parse(&read(i, "listing")),
        mount_error,
        ..Default::default()
    };
    if facts.mount_error.is_none() && facts.listing.is_empty() {
        facts.mount_error = Some("the root file system could not be listed".to_string());
    }
    for (n, path) in needed_files(job).iter().enumerate() {
        // A failed download may leave an empty local file: trust the listing for existence.
        if facts.listing.get(path).is_none() {
            continue;
        }
        if let Ok(bytes) = std::fs::read(file_local(i, &format!("file{n}"))) {
            facts.files.insert(path.clone(), bytes);
        }
    }
    facts
}

fn needed_files(job: &CheckJob<'_>) -> Vec<String> {
    let mut files: Vec<String> = job
        .requirements()
        .iter()
        .flat_map(|r| r.test.files_needed())
        .collect();
    files.sort();
    files.dedup();
    files
}
