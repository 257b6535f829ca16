//! The no-op fast path (issue #14: a no-op build of 10,000 templates in ≤ 20 ms, process and
//! all). After each build, `<out>/.i3s-bundle-stamp` lists the size and mtime of every file the
//! build cache vouches for (each bundle's inputs as recorded, its zip and sidecar, the cache file
//! itself) with the report of that state. The next build with the same question (project, bundle
//! selection, tool, time environment) stats those files; when every stat still equals the stamp,
//! nothing can be stale — the cache would find the same — and the report is the stamp's, without
//! reading the cache (megabytes of JSON at that size) or parsing anything else. Any difference
//! (a file touched, a bundle added, another build's output, a changed tool): the normal path,
//! which writes a new stamp.
use super::cache::{self, Cache, ExeStat};
use super::naming::{TimeEnvironment, TimeSource};
use super::{BuildReport, BundleReport, Status};
use crate::fs::mtime_ns;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub const STAMP_FILE: &str = ".i3s-bundle-stamp";
const MAGIC: &str = "i3s-bundle stamp 2";

/// What a build is asked, for the stamp to answer only the same question.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Question {
    pub root: PathBuf,
    /// The selected bundle sources (cache keys), in order.
    pub keys: Vec<String>,
    pub source_date_epoch: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    question: Question,
    tool: String,
    tool_stat: ExeStat,
    time_sources: Vec<TimeSource>,
    bundles: Vec<BundleReport>,
}

impl Question {
    pub fn new(root: &Path, keys: &[String], time: &TimeEnvironment) -> crate::error::Result<Self> {
        Ok(Question {
            root: std::path::absolute(root).map_err(|e| crate::error::Error::io(root, e))?,
            keys: keys.to_vec(),
            source_date_epoch: time.source_date_epoch.clone(),
        })
    }
}

/// The report of an up-to-date build when the stamp in `out` answers `question` and every file
/// it lists is unchanged; `None` sends the build down its normal path.
pub fn up_to_date(out: &Path, question: &Question, time: &TimeEnvironment) -> Option<BuildReport> {
    let bundles = check(out, question, time)?;
    Some(BuildReport {
        tool: cache::tool_version(),
        bundles,
        archive: None,
        warnings: Vec::new(),
    })
}

fn check(out: &Path, question: &Question, time: &TimeEnvironment) -> Option<Vec<BundleReport>> {
    let text = std::fs::read_to_string(out.join(STAMP_FILE)).ok()?;
    let mut lines = text.split('\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let header: Header = serde_json::from_str(lines.next()?).ok()?;
    if &header.question != question
        || ExeStat::current().as_ref() != Some(&header.tool_stat)
        || !header.time_sources.iter().all(|t| time.still_valid(t))
    {
        return None;
    }
    // Pieces of at most 512 files of one directory, statted relative to it.
    let mut pieces: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        match line.strip_prefix("D ") {
            Some(dir) => pieces.push((dir, Vec::new())),
            None => match pieces.last_mut() {
                Some((dir, files)) if files.len() == 512 => {
                    let dir = *dir;
                    pieces.push((dir, vec![line]));
                }
                Some((_, files)) => files.push(line),
                None => return None,
            },
        }
    }
    if !pieces.par_iter().all(|(dir, files)| unchanged(dir, files)) {
        return None;
    }
    cache::adopt_identity(&header.tool_stat, &header.tool);
    Some(header.bundles)
}

/// Whether every `<size> <mtime> <name>` line still describes `<dir>/<name>`.
#[cfg(unix)]
fn unchanged(dir: &str, lines: &[&str]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    // fstatat relative to the open directory: no walk of the whole path per file.
    let Ok(handle) = std::fs::File::open(dir) else {
        return false;
    };
    lines.iter().all(|line| {
        let Some((size, mtime, name)) = split_line(line) else {
            return false;
        };
        let Ok(name) = std::ffi::CString::new(std::ffi::OsStr::new(name).as_bytes()) else {
            return false;
        };
        // SAFETY: an all-zero stat is valid; fstatat fills it and reads only `name`.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatat(handle.as_raw_fd(), name.as_ptr(), &mut st, 0) } != 0 {
            return false;
        }
        // As `crate::fs::mtime_ns` counts: nanoseconds since the epoch, 0 before it.
        let ns = u128::try_from(st.st_mtime).map_or(0, |s| {
            s * 1_000_000_000 + u128::try_from(st.st_mtime_nsec).unwrap_or(0)
        });
        u64::try_from(st.st_size).ok() == Some(size) && ns == mtime
    })
}

#[cfg(not(unix))]
fn unchanged(dir: &str, lines: &[&str]) -> bool {
    lines.iter().all(|line| {
        let Some((size, mtime, name)) = split_line(line) else {
            return false;
        };
        std::fs::metadata(Path::new(dir).join(name))
            .is_ok_and(|m| m.len() == size && mtime_ns(&m) == mtime)
    })
}

fn split_line(line: &str) -> Option<(u64, u128, &str)> {
    let mut parts = line.splitn(3, ' ');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?,
    ))
}

/// Writes the stamp of a build whose reports are `bundles` (all up to date from now on), from
/// the cache as saved in `out`; removes a stale one when there is nothing to vouch for.
pub fn write(
    out: &Path,
    question: Question,
    cache: &Cache,
    bundles: &[BundleReport],
) -> crate::error::Result<()> {
    let path = out.join(STAMP_FILE);
    let Some(text) = text(out, question, cache, bundles) else {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    };
    // A no-op build writes nothing.
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    crate::fs::write_atomic(&path, text.as_bytes())
}

fn text(out: &Path, question: Question, cache: &Cache, bundles: &[BundleReport]) -> Option<String> {
    let tool_stat = ExeStat::current()?;
    // By directory: `D <dir>`, then `<size> <mtime> <name>` for each file in it.
    let mut by_dir: std::collections::BTreeMap<String, String> = Default::default();
    let mut line = |path: &Path, size: u64, mtime: u128| {
        let dir = path.parent()?.to_str().filter(|p| !p.contains('\n'))?;
        let name = path.file_name()?.to_str().filter(|p| !p.contains('\n'))?;
        let lines = by_dir.entry(dir.to_string()).or_default();
        lines.push_str(&format!("{size} {mtime} {name}\n"));
        Some(())
    };
    let cache_path = Cache::path(out);
    let meta = std::fs::metadata(&cache_path).ok()?;
    line(&cache_path, meta.len(), mtime_ns(&meta))?;
    let mut time_sources = Vec::new();
    for key in &question.keys {
        let record = cache.bundles.get(key)?;
        time_sources.push(record.time_source.clone());
        for input in &record.inputs {
            line(&question.root.join(&input.path), input.size, input.mtime_ns)?;
        }
        let zip = out.join(&record.zip_name);
        line(&zip, record.size, record.mtime_ns)?;
        let sidecar = super::sidecar::path(&zip);
        if !super::sidecar::is_current(&zip, &record.sha256, &record.attachments) {
            return None;
        }
        let meta = std::fs::metadata(&sidecar).ok()?;
        line(&sidecar, meta.len(), mtime_ns(&meta))?;
    }
    let bundles: Vec<BundleReport> = bundles
        .iter()
        .map(|b| BundleReport {
            status: Status::UpToDate,
            reason: None,
            ..b.clone()
        })
        .collect();
    let header = Header {
        question,
        tool: cache::tool_version(),
        tool_stat,
        time_sources,
        bundles,
    };
    let header = serde_json::to_string(&header).ok()?;
    let mut text = format!("{MAGIC}\n{header}\n");
    for (dir, lines) in by_dir {
        text.push_str(&format!("D {dir}\n{lines}"));
    }
    Some(text)
}
