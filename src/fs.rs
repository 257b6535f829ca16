//! Writing files safely, and cleaning up after runs that could not.
//!
//! Every file we write goes through a temporary file in the target's directory, renamed over the
//! target only when complete (a crash never leaves a partial output nor destroys the old one).
//! Temporary files are named `.i3s-bundle-tmp-<pid>-<random>-<name>` (`<name>`: the target's file
//! name, shortened) so that anyone can tell what they are and which process made them.
//!
//! **Leftovers.** A run killed with `kill -9` cannot delete its temporary file. The next run that
//! writes into the same directory removes it, by this rule: a file named like ours is *stale* when
//! no process holds its advisory lock (every writer holds an exclusive `flock` on its temporary
//! file from creation to rename; the kernel drops it when the process ends, `kill -9` included)
//! and it was last modified more than [`STALE_AFTER`] ago (which covers the instant between
//! creating a file and locking it). Where the file system does not support locks, the pid in the
//! name decides instead: stale when no such process exists on this host (and older than
//! [`STALE_AFTER`]). Names left by versions before this rule (`.i3s-bundle-*.tmp`,
//! `.i3s-payload-*`, …; they held no lock) are stale when older than [`LEGACY_STALE_AFTER`].
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How every temporary file name we create starts.
pub const TEMP_PREFIX: &str = ".i3s-bundle-tmp-";

/// A temporary file untouched this long and not locked by a live process is a leftover.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Temporary files of earlier versions (no lock) are leftovers when untouched this long.
pub const LEGACY_STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Name prefixes (and required suffixes) of temporary files written by earlier versions.
const LEGACY: &[(&str, &str)] = &[
    (".i3s-bundle-pull-", ""),
    (".i3s-payload-", ""),
    (".i3s-pack-", ".raw"),
    (".i3s-bundle-", ".tmp"),
];

/// The longest target name kept in a temporary file's name (file names are limited to 255 bytes).
const NAME_BYTES: usize = 80;

/// A locked temporary file next to its target; removed when dropped without [`TempFile::persist`].
#[derive(Debug)]
pub struct TempFile {
    inner: tempfile::NamedTempFile,
}

impl TempFile {
    /// A new temporary file in the directory of `target` (created if missing), named after it.
    /// Stale temporary files in that directory are removed first (once per process).
    pub fn for_target(target: &Path) -> Result<TempFile> {
        let dir = parent_dir(target);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        sweep_once(dir);
        let name = target
            .file_name()
            .map(|n| short(&n.to_string_lossy()))
            .unwrap_or_default();
        let inner = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
            .suffix(&format!("-{name}"))
            .rand_bytes(8)
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        // Held until the file is renamed or removed; a file system without locks falls back to
        // the pid in the name (see the module docs).
        let _ = inner.as_file().try_lock();
        Ok(TempFile { inner })
    }

    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    pub fn as_file(&self) -> &File {
        self.inner.as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        self.inner.as_file_mut()
    }

    /// Another handle on the file (for a writer that takes ownership).
    pub fn reopen(&self) -> Result<File> {
        self.inner.reopen().map_err(|e| Error::io(self.path(), e))
    }

    /// Renames the file over `target` (which must be in the same directory).
    pub fn persist(self, target: &Path) -> Result<()> {
        self.inner
            .persist(target)
            .map_err(|e| Error::io(target, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (temporary file, then rename), readable by all (0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut temp = TempFile::for_target(path)?;
    temp.as_file_mut()
        .write_all(bytes)
        .map_err(|e| Error::io(temp.path(), e))?;
    set_mode_644(temp.path())?;
    temp.persist(path)
}

/// Sets the permissions a published output has (0644; temporary files are created 0600).
#[cfg(unix)]
pub fn set_mode_644(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(path, e))
}
#[cfg(not(unix))]
pub fn set_mode_644(_: &Path) -> Result<()> {
    Ok(())
}

/// The directory a file is written in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// [`sweep_stale`] of `dir`, unless this process already swept it.
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let first = SWEPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key);
    if first {
        sweep_stale(dir);
    }
}

/// Removes the stale temporary files in `dir` (the rule is in the module docs); returns their
/// paths. Best effort: what cannot be read or removed is left alone.
pub fn sweep_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let kind = if let Some(rest) = name.strip_prefix(TEMP_PREFIX) {
            Kind::Current {
                pid: rest.split('-').next().and_then(|p| p.parse().ok()),
            }
        } else if LEGACY
            .iter()
            .any(|(prefix, suffix)| name.starts_with(prefix) && name.ends_with(suffix))
        {
            Kind::Legacy
        } else {
            continue;
        };
        let path = entry.path();
        if is_stale(&path, kind, now) && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Current { pid: Option<u32> },
    Legacy,
}

fn is_stale(path: &Path, kind: Kind, now: SystemTime) -> bool {
    // Not following symlinks: a link named like a temporary file is not one of ours.
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or_default();
    match kind {
        Kind::Legacy => age > LEGACY_STALE_AFTER,
        Kind::Current { pid } => {
            if age <= STALE_AFTER {
                return false;
            }
            let Ok(file) = File::open(path) else {
                return false;
            };
            match file.try_lock() {
                // Nobody holds it: its writer is gone (our lock ends when `file` is dropped).
                Ok(()) => true,
                Err(std::fs::TryLockError::WouldBlock) => false,
                Err(std::fs::TryLockError::Error(_)) => pid.is_some_and(|p| !process_alive(p)),
            }
        }
    }
}

/// Whether a process with this id exists on this host.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
#[cfg(not(unix))]
fn process_alive(_: u32) -> bool {
    true
}

/// `name` cut to at most [`NAME_BYTES`] bytes at a character boundary.
fn short(name: &str) -> String {
    let mut end = name.len().min(NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// A file's modification time in nanoseconds since the epoch (0 when unknown): the freshness
/// stamp build records and template caches compare.
pub fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// The SHA-256 of a file, hex, read in 64 KiB pieces (golden images are not loaded whole).
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, seconds: u64) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
            .unwrap();
    }

    #[test]
    fn temp_files_carry_the_prefix_pid_and_target_name_and_vanish_on_persist() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("bundle.zip");
        let temp = TempFile::for_target(&target).unwrap();
        let name = temp
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let pid = std::process::id();
        assert!(
            name.starts_with(&format!("{TEMP_PREFIX}{pid}-")) && name.ends_with("-bundle.zip"),
            "{name}"
        );
        std::fs::write(temp.path(), b"x").unwrap();
        temp.persist(&target).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(std::fs::read(&target).unwrap(), b"x");
    }

    #[test]
    fn long_target_names_are_shortened_in_the_temp_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("é".repeat(120));
        let temp = TempFile::for_target(&target).unwrap();
        assert!(temp.path().file_name().unwrap().len() < 255);
    }

    #[test]
    fn a_stale_temp_file_goes_and_a_locked_young_or_foreign_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        // A killed run: nobody holds the lock, old.
        let killed = path(&format!("{TEMP_PREFIX}999999-abcdefgh-a.zip"));
        std::fs::write(&killed, b"partial").unwrap();
        age(&killed, 3600);
        // A live run: lock held (by an open file description of its own), old mtime.
        let live = path(&format!("{TEMP_PREFIX}1-abcdefgh-b.zip"));
        std::fs::write(&live, b"partial").unwrap();
        age(&live, 3600);
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        // Just created, not yet locked: too young to judge.
        let young = path(&format!("{TEMP_PREFIX}999999-abcdefgh-c.zip"));
        std::fs::write(&young, b"").unwrap();
        // Not ours.
        let foreign = path("notes.tmp");
        std::fs::write(&foreign, b"").unwrap();
        age(&foreign, 90 * 24 * 3600);
        // An earlier version's leftover, and a recent one (which may still be written).
        let legacy_old = path(".i3s-bundle-Ab12Cd.zip.tmp");
        std::fs::write(&legacy_old, b"").unwrap();
        age(&legacy_old, 2 * 24 * 3600);
        let legacy_recent = path(".i3s-payload-Ab12Cd");
        std::fs::write(&legacy_recent, b"").unwrap();
        age(&legacy_recent, 3600);

        let mut removed = sweep_stale(dir.path());
        removed.sort();
        let mut expected = vec![killed, legacy_old];
        expected.sort();
        assert_eq!(removed, expected);
        for kept in [&live, &young, &foreign, &legacy_recent] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
        drop(holder);
        assert_eq!(sweep_stale(dir.path()), vec![live]);
    }
}
