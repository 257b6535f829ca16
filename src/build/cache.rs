//! The make-style rebuild cache (`<out>/.i3s-bundle-cache.json`) and depfiles.
//!
//! For each bundle source it records what the output was built from: every input file (path,
//! size, mtime, SHA-256), the tool's identity (`tool_version`: its build, not its version string),
//! where the Time Stamp came from, and the output's own size, mtime and SHA-256. A bundle is up to
//! date when every input still has the recorded content (stat first; a changed stat is re-hashed,
//! so a touched-but-unchanged file rebuilds nothing), the time source still gives the same stamp,
//! and the output is intact.
use super::model::{GoldenImageAttachment, Input};
use super::naming::{TimeEnvironment, TimeSource};
use crate::error::{Error, Result};
use crate::fs::{hash_file, mtime_ns, write_atomic};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CACHE_FILE: &str = ".i3s-bundle-cache.json";
/// Held (an advisory exclusive lock) while a build merges its records into [`CACHE_FILE`].
pub const LOCK_FILE: &str = ".i3s-bundle-cache.lock";

/// Bumped when the build's output for the same inputs may change (part of the tool version).
const CACHE_FORMAT: u32 = 1;

/// The tool's identity the cache is keyed on: version, commit (for people) and the SHA-256 of the
/// running executable. The hash, not the version string or the commit, decides: it changes with
/// every change to the code that renders (committed or not, a new rustc or dependency too), so a
/// changed tool rebuilds everything, and the same binary, wherever it is copied, rebuilds nothing.
/// A commit + dirty flag would miss a second edit of an already dirty tree. Hashed once per run
/// by `build` (a 208 MB debug binary with debug info: 0.6 s by sha256sum; a release one far less).
/// A cache whose [`Cache::tool_stat`] is the running executable's lends its identity instead
/// (see [`ExeStat`]).
pub fn tool_version() -> String {
    IDENTITY
        .get_or_init(|| {
            let build = std::env::current_exe()
                .and_then(std::fs::read)
                .map(|bytes| hex::encode(&Sha256::digest(&bytes)[..16]))
                // Unreadable executable: an identity no cache matches, so everything rebuilds.
                .unwrap_or_else(|e| format!("unknown ({e}, pid {})", std::process::id()));
            format!(
                "i3s-bundle {} ({}, cache format {CACHE_FORMAT}, build {build})",
                env!("CARGO_PKG_VERSION"),
                env!("I3S_BUNDLE_COMMIT")
            )
        })
        .clone()
}

static IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Takes `tool`, recorded with the executable stat `stat`, as this tool's identity when `stat`
/// is the running executable's (see [`ExeStat`]).
pub fn adopt_identity(stat: &ExeStat, tool: &str) {
    if ExeStat::current().as_ref() == Some(stat) {
        IDENTITY.get_or_init(|| tool.to_string());
    }
}

/// The running executable's file identity and stat. When it equals the one a cache recorded with
/// its tool identity, that identity is this tool's, and the executable is not hashed again (20 MB
/// of release binary: most of a no-op build). A rebuilt or replaced binary has another mtime and
/// ctime (ctime cannot be set back) or inode: the inputs' rule, stat first and hash on change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExeStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl ExeStat {
    #[cfg(unix)]
    pub fn current() -> Option<ExeStat> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(ExeStat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn current() -> Option<ExeStat> {
        None
    }
}

/// What one bundle source last produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub bundle: String,
    pub version: String,
    pub zip_name: String,
    pub time_stamp: String,
    pub time_source: TimeSource,
    pub sha256: String,
    pub size: u64,
    pub mtime_ns: u128,
    pub inputs: Vec<Input>,
    pub used_attributes: Vec<String>,
    pub attachments: Vec<GoldenImageAttachment>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveRecord {
    pub file_name: String,
    /// SHA-256 over everything the archive is made from (bundle digests, report, names).
    pub inputs_digest: String,
    pub sha256: String,
    pub size: u64,
    pub mtime_ns: u128,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cache {
    pub tool: String,
    /// The executable that computed `tool` (absent in caches of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_stat: Option<ExeStat>,
    /// Keyed by the bundle source path relative to the project root.
    pub bundles: BTreeMap<String, Record>,
    pub archive: Option<ArchiveRecord>,
    /// The cache file as loaded (inode, size, mtime): unchanged at save time, nobody else saved
    /// meanwhile and it need not be parsed again (a save renames a new file: a new inode).
    #[serde(skip)]
    pub loaded_stat: Option<FileStat>,
}

/// Why a bundle must be rebuilt (reported with `--json`, handy when it is unexpected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    UpToDate { restat: bool },
    Stale(String),
}

impl Cache {
    pub fn path(out: &Path) -> PathBuf {
        out.join(CACHE_FILE)
    }

    /// The cache of `out`; an unreadable or foreign cache is treated as empty (rebuild all).
    pub fn load(out: &Path) -> Cache {
        let path = Self::path(out);
        // The stat of the very file read (opened once: a save meanwhile renames another in).
        let Some((bytes, stat)) = read_with_stat(&path) else {
            return Cache::default();
        };
        let Ok(mut cache) = serde_json::from_slice::<Cache>(&bytes) else {
            return Cache::default();
        };
        cache.loaded_stat = stat;
        if let Some(recorded) = &cache.tool_stat
            && ExeStat::current().as_ref() == Some(recorded)
        {
            IDENTITY.get_or_init(|| cache.tool.clone());
        }
        if cache.tool == tool_version() {
            cache
        } else {
            Cache::default()
        }
    }

    /// Writes atomically (temp file + rename).
    pub fn save(&self, out: &Path) -> Result<()> {
        let mut copy = self.clone();
        copy.tool = tool_version();
        copy.tool_stat = ExeStat::current();
        let bytes = serde_json::to_vec(&copy)
            .map_err(|e| Error::other(format!("serializing the build cache: {e}")))?;
        write_atomic(&Self::path(out), &bytes)
    }

    /// Saves what this run changed relative to `base` (the cache as this run loaded it) without
    /// losing what another build saved meanwhile: under an exclusive lock on [`LOCK_FILE`], the
    /// cache on disk is re-read and only this run's changes (records written, re-statted or
    /// forgotten; the archive record) are applied to it. Two builds of disjoint `--bundle` sets at
    /// the same time both keep their records. The lock is `std::fs::File::lock` (flock(2) on
    /// Unix, LockFileEx on Windows; stable since Rust 1.89), released when the file is closed, so
    /// a killed build never leaves it held; the lock file itself stays (deleting it would race).
    pub fn save_merged(&self, base: &Cache, out: &Path) -> Result<()> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let lock_path = out.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let unchanged =
            base.loaded_stat.is_some() && file_stat(&Self::path(out)) == base.loaded_stat;
        let mut merged = if unchanged {
            base.clone()
        } else {
            Cache::load(out)
        };
        for (key, record) in &self.bundles {
            if base.bundles.get(key) != Some(record) {
                merged.bundles.insert(key.clone(), record.clone());
            }
        }
        for key in base.bundles.keys() {
            if !self.bundles.contains_key(key) {
                merged.bundles.remove(key);
            }
        }
        if self.archive != base.archive {
            merged.archive = self.archive.clone();
        }
        let saved = merged.save(out);
        drop(lock);
        saved
    }

    /// Checks a bundle source against its record; updates recorded stats of touched-but-unchanged
    /// files (then `restat` is true and the cache should be saved).
    pub fn freshness(
        &mut self,
        key: &str,
        root: &Path,
        out: &Path,
        time: &TimeEnvironment,
    ) -> Freshness {
        match self.bundles.get_mut(key) {
            Some(record) => Self::record_freshness(record, root, out, time),
            None => Freshness::Stale("never built".into()),
        }
    }

    /// [`Cache::freshness`] of one record.
    pub fn record_freshness(
        record: &mut Record,
        root: &Path,
        out: &Path,
        time: &TimeEnvironment,
    ) -> Freshness {
        if !time.still_valid(&record.time_source) {
            return Freshness::Stale("the Time Stamp source changed".into());
        }
        let mut restat = false;
        for input in &mut record.inputs {
            let path = root.join(&input.path);
            let Ok(meta) = std::fs::metadata(&path) else {
                return Freshness::Stale(format!("{} is gone", input.path.display()));
            };
            if meta.len() == input.size && mtime_ns(&meta) == input.mtime_ns {
                continue;
            }
            match hash_file(&path) {
                Ok(digest) if digest == input.sha256 => {
                    input.size = meta.len();
                    input.mtime_ns = mtime_ns(&meta);
                    restat = true;
                }
                _ => return Freshness::Stale(format!("{} changed", input.path.display())),
            }
        }
        let output = out.join(&record.zip_name);
        let Ok(meta) = std::fs::metadata(&output) else {
            return Freshness::Stale(format!("{} is missing", record.zip_name));
        };
        if meta.len() != record.size || mtime_ns(&meta) != record.mtime_ns {
            match hash_file(&output) {
                Ok(digest) if digest == record.sha256 => {
                    record.mtime_ns = mtime_ns(&meta);
                    restat = true;
                }
                _ => return Freshness::Stale(format!("{} was modified", record.zip_name)),
            }
        }
        if !super::sidecar::is_current(&output, &record.sha256, &record.attachments) {
            let sidecar = super::sidecar::path(Path::new(&record.zip_name));
            return Freshness::Stale(format!("{} is missing or was modified", sidecar.display()));
        }
        Freshness::UpToDate { restat }
    }
}

/// A file's inode, size and mtime.
type FileStat = (u64, u64, u128);

#[cfg(unix)]
fn stat_of(meta: &std::fs::Metadata) -> Option<FileStat> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.ino(), meta.len(), mtime_ns(meta)))
}

#[cfg(not(unix))]
fn stat_of(_: &std::fs::Metadata) -> Option<FileStat> {
    None
}

fn file_stat(path: &Path) -> Option<FileStat> {
    stat_of(&std::fs::metadata(path).ok()?)
}

fn read_with_stat(path: &Path) -> Option<(Vec<u8>, Option<FileStat>)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let stat = file.metadata().ok().and_then(|m| stat_of(&m));
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some((bytes, stat))
}

/// A make-compatible depfile: `<target>: <input> <input> …` (spaces escaped), so a Makefile rule
/// with `-include dist/*.d` rebuilds exactly when `i3s-bundle build` would.
pub fn depfile_text(target: &Path, inputs: &[Input]) -> String {
    fn escape(path: &Path) -> String {
        path.to_string_lossy()
            .replace('$', "$$")
            .replace(' ', "\\ ")
            .replace('#', "\\#")
    }
    let mut out = format!("{}:", escape(target));
    for input in inputs {
        out.push_str(" \\\n  ");
        out.push_str(&escape(&input.path));
    }
    out.push('\n');
    out
}
