//! The result cache: a second run over unchanged inputs returns the stored report without
//! reading the zip's entries or running shellcheck. Keys cover the input bytes, the linter
//! binary, the options (config, shellcheck on/off) and the installed shellcheck.
use super::{LintOptions, Report};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// `$I3S_LINT_CACHE`, else `$XDG_CACHE_HOME/i3s-bundle/lint`, else `~/.cache/i3s-bundle/lint`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("I3S_LINT_CACHE") {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("i3s-bundle").join("lint")
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join("reports").join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<Report> {
        serde_json::from_slice(&std::fs::read(self.path(key)).ok()?).ok()
    }

    /// Stores a report; a cache that cannot be written is silently skipped (it is only a cache).
    pub fn put(&self, key: &str, report: &Report) {
        let path = self.path(key);
        let Ok(bytes) = serde_json::to_vec(report) else {
            return;
        };
        let _ = crate::fs::write_atomic(&path, &bytes);
    }
}

/// Size and modification time of a file, as a cheap identity.
fn stamp(path: &Path) -> String {
    std::fs::metadata(path)
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_else(|_| "missing".to_string())
}

/// The installed shellcheck, found on PATH (no process is started).
fn shellcheck_stamp() -> String {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("shellcheck"))
                .find(|p| p.is_file())
        })
        .map(|p| format!("{}={}", p.display(), stamp(&p)))
        .unwrap_or_else(|| "no shellcheck".to_string())
}

/// The part of every key that depends on the linter and its options.
pub fn options_key(options: &LintOptions) -> String {
    let exe = std::env::current_exe()
        .map(|p| stamp(&p))
        .unwrap_or_default();
    let config = serde_json::to_string(&options.config).unwrap_or_default();
    let shellcheck = if options.shellcheck {
        shellcheck_stamp()
    } else {
        "off".into()
    };
    format!(
        "{}\0{exe}\0{config}\0{shellcheck}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The key of one input file.
pub fn input_key(options_key: &str, path: &Path, bytes: &[u8]) -> String {
    let mut hasher = key_hasher(options_key, path);
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// [`input_key`] of a file's content, streamed: a bundle may carry gigabytes of golden image.
pub fn file_key(options_key: &str, path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut hasher = key_hasher(options_key, path);
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn key_hasher(options_key: &str, path: &Path) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(options_key.as_bytes());
    hasher.update([0]);
    hasher.update(path.to_string_lossy().as_bytes());
    hasher.update([0]);
    hasher
}
