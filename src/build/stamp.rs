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
const MAGIC: &str = "i3s-bundle stamp 1";

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
    let files: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let unchanged = files.par_chunks(256).all(|chunk| {
        chunk.iter().all(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(size), Some(mtime), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            std::fs::metadata(path).is_ok_and(|m| {
                size.parse::<u64>().ok() == Some(m.len())
                    && mtime.parse::<u128>().ok() == Some(mtime_ns(&m))
            })
        })
    });
    if !unchanged {
        return None;
    }
    cache::adopt_identity(&header.tool_stat, &header.tool);
    Some(header.bundles)
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
    let mut files = String::new();
    let mut line = |path: &Path, size: u64, mtime: u128| {
        let path = path.to_str().filter(|p| !p.contains('\n'))?;
        files.push_str(&format!("{size} {mtime} {path}\n"));
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
    Some(format!("{MAGIC}\n{header}\n{files}"))
}
