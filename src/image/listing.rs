//! A file-system listing read from inside the appliance, and the changes between two listings.
//!
//! One `find -printf` over the mounted root gives type, mode, owner, size, times and link target
//! of every entry in one command (metadata only: a real image is not read in full). Changed
//! regular files are hashed afterwards, selected by ctime against a stamp in the appliance's own
//! /tmp (outside the image).
use std::collections::BTreeMap;
use std::path::Path;

/// Separates fields in the listing (find's `\t`).
const FIELDS: usize = 9;

/// The guestfish line that writes a listing of the file system mounted at `/` to `local`.
/// Runs `find` in the appliance (`debug sh`), the image's root is mounted at /sysroot there.
/// Backslashes are doubled twice: guestfish unescapes once, the appliance's shell once more.
pub fn list_command(local: &Path) -> String {
    let format = ["%y", "%m", "%U", "%G", "%s", "%T@", "%C@", "%P", "%l"].join(r"\\\\t") + r"\\\\n";
    format!(
        "-debug sh \"cd /sysroot && find . -xdev -printf {format}\" | cat > {}",
        crate::guestfish::driver::shell_quote(local)
    )
}

/// Marks "now" in the appliance's /tmp, so [`hash_changed_command`] can pick files changed after.
pub fn stamp_command(name: &str) -> String {
    format!("-debug sh \"touch /tmp/i3s-stamp-{name}\"")
}

/// Hashes the regular files whose ctime is newer than the stamp `name`, into `local`.
pub fn hash_changed_command(name: &str, local: &Path) -> String {
    format!(
        "-debug sh \"cd /sysroot && find . -xdev -type f -cnewer /tmp/i3s-stamp-{name} -exec sha256sum -- {{}} +\" | cat > {}",
        crate::guestfish::driver::shell_quote(local)
    )
}

/// Writes to `local` a tar of the entries (directories without their contents) whose ctime is
/// newer than the stamp `name`: what the plan created or changed. Made in the appliance (its
/// GNU tar, with numeric owners, xattrs and ACLs, as `tar-out` makes them) inside the mounted
/// image, downloaded, then removed: the image is the plan's disposable overlay.
pub fn changes_tar_commands(name: &str, local: &Path) -> Vec<String> {
    let inside = format!("/.i3s-changes-{name}.tar");
    vec![
        format!(
            "-debug sh \"cd /sysroot && find . -xdev -cnewer /tmp/i3s-stamp-{name} -print0 > /tmp/i3s-changes-{name} && tar -c --null --no-recursion --numeric-owner --xattrs --acls -T /tmp/i3s-changes-{name} -f /sysroot{inside}\""
        ),
        format!(
            "-download {inside} {}",
            crate::guestfish::driver::quote(&local.display().to_string())
        ),
        format!("-rm {inside}"),
    ]
}

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Other,
}

impl FileType {
    fn from_find(code: &str) -> FileType {
        match code {
            "f" => FileType::File,
            "d" => FileType::Directory,
            "l" => FileType::Symlink,
            _ => FileType::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Other => "other",
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Absolute path inside the image (`/etc/hostname`).
    pub path: String,
    pub file_type: FileType,
    /// Permission bits in octal, e.g. `"0755"`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    #[serde(skip)]
    pub mtime: String,
    #[serde(skip)]
    pub ctime: String,
    /// The link target of a symlink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Every entry by absolute path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: BTreeMap<String, Entry>,
}

impl Listing {
    /// Parses the output of [`list_command`]. Malformed lines are skipped.
    pub fn parse(text: &str) -> Listing {
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.splitn(FIELDS, '\t').collect();
            if fields.len() != FIELDS || fields[7].is_empty() {
                continue; // the root itself ("." → empty %P) or a garbled line
            }
            let file_type = FileType::from_find(fields[0]);
            let path = format!("/{}", fields[7]);
            let mode = format!("{:0>4}", fields[1]);
            entries.insert(
                path.clone(),
                Entry {
                    path,
                    file_type,
                    mode,
                    uid: fields[2].parse().unwrap_or(0),
                    gid: fields[3].parse().unwrap_or(0),
                    size: fields[4].parse().unwrap_or(0),
                    mtime: fields[5].to_string(),
                    ctime: fields[6].to_string(),
                    target: (file_type == FileType::Symlink).then(|| fields[8].to_string()),
                },
            );
        }
        Listing { entries }
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// The entry `path` names after following symlinks in every component, as a process in the
    /// image sees it (absolute targets are inside the image). `None`: missing or a loop.
    pub fn resolve(&self, path: &str) -> Option<&Entry> {
        let mut pending: Vec<String> = components(path).into_iter().rev().collect();
        let mut current: Vec<String> = Vec::new();
        let mut entry = None;
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    entry = None;
                    continue;
                }
                _ => {}
            }
            current.push(part);
            let here = format!("/{}", current.join("/"));
            let found = self.entries.get(&here)?;
            if let (FileType::Symlink, Some(target)) = (found.file_type, &found.target) {
                hops += 1;
                if hops > 40 {
                    return None; // ELOOP, as the kernel's limit
                }
                current.pop();
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(components(target).into_iter().rev());
                entry = None;
                continue;
            }
            entry = Some(found);
        }
        if current.is_empty() {
            return None; // the root itself has no entry
        }
        entry.or_else(|| self.entries.get(&format!("/{}", current.join("/"))))
    }

    /// Entries whose path matches a shell-style pattern (`*` and `?` within one path component).
    pub fn matching<'a>(&'a self, pattern: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .values()
            .filter(move |e| glob_match(pattern, &e.path))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// `*` matches any run of characters except `/`, `?` one character except `/`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Parses `sha256sum` output (`<hex>  ./path`) into absolute path → digest.
pub fn parse_hashes(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (digest, path) = line.split_once("  ")?;
            let path = path.strip_prefix("./").unwrap_or(path);
            Some((format!("/{path}"), digest.to_string()))
        })
        .collect()
}

/// Added, changed or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Changed,
    Removed,
}

/// One difference between two listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    pub file_type: FileType,
    /// Mode after the change (before, for removed entries).
    pub mode: String,
    /// Size after the change (before, for removed entries).
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// sha256 of the new content of added and changed regular files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For changed entries: what changed (`mode 0644 -> 0755`, `size 3 -> 9`, `content`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The changes from `before` to `after`, sorted by path. Directories count as changed only when
/// their mode or owner changed (their mtime moves whenever an entry is added).
pub fn diff(before: &Listing, after: &Listing, hashes: &BTreeMap<String, String>) -> Vec<Change> {
    let mut changes = Vec::new();
    let make = |kind, e: &Entry, details| Change {
        kind,
        path: e.path.clone(),
        file_type: e.file_type,
        mode: e.mode.clone(),
        size: e.size,
        target: e.target.clone(),
        sha256: if kind == ChangeKind::Removed {
            None
        } else {
            hashes.get(&e.path).cloned()
        },
        details,
    };
    for (path, new) in &after.entries {
        match before.entries.get(path) {
            None => changes.push(make(ChangeKind::Added, new, Vec::new())),
            Some(old) => {
                let mut details = Vec::new();
                if old.file_type != new.file_type {
                    details.push(format!(
                        "type {} -> {}",
                        old.file_type.as_str(),
                        new.file_type.as_str()
                    ));
                }
                if old.mode != new.mode {
                    details.push(format!("mode {} -> {}", old.mode, new.mode));
                }
                if (old.uid, old.gid) != (new.uid, new.gid) {
                    details.push(format!(
                        "owner {}:{} -> {}:{}",
                        old.uid, old.gid, new.uid, new.gid
                    ));
                }
                if new.file_type != FileType::Directory {
                    if old.target != new.target {
                        details.push(format!(
                            "target {} -> {}",
                            old.target.as_deref().unwrap_or("-"),
                            new.target.as_deref().unwrap_or("-")
                        ));
                    }
                    if old.size != new.size {
                        details.push(format!("size {} -> {}", old.size, new.size));
                    } else if old.mtime != new.mtime {
                        details.push("content rewritten".to_string());
                    } else if details.is_empty() && old.ctime != new.ctime {
                        details.push("metadata touched".to_string());
                    }
                }
                if !details.is_empty() {
                    changes.push(make(ChangeKind::Changed, new, details));
                }
            }
        }
    }
    for (path, old) in &before.entries {
        if !after.entries.contains_key(path) {
            changes.push(make(ChangeKind::Removed, old, Vec::new()));
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "d\t755\t0\t0\t1024\t1.0\t1.0\t\t\n\
        d\t755\t0\t0\t1024\t1.0\t1.0\tetc\t\n\
        f\t600\t0\t0\t6\t1.0\t1.0\tetc/hostname\t\n\
        f\t644\t0\t0\t3\t1.0\t1.0\tetc/motd\t\n\
        l\t777\t0\t0\t41\t1.0\t1.0\tetc/default.target\t/usr/lib/systemd/system/multi-user.target\n";
    const AFTER: &str = "d\t755\t0\t0\t1024\t2.0\t2.0\tetc\t\n\
        f\t755\t0\t0\t9\t2.0\t2.0\tetc/motd\t\n\
        l\t777\t0\t0\t30\t2.0\t2.0\tetc/default.target\t/etc/systemd/system/runlast.target\n\
        f\t644\t0\t0\t4\t2.0\t2.0\tetc/new file\t\n";

    #[test]
    fn resolves_symlinks_in_every_component() {
        let listing = Listing::parse(concat!(
            "d\t755\t0\t0\t1\t1\t1\tetc\t\n",
            "d\t755\t0\t0\t1\t1\t1\tetc/rc.d\t\n",
            "d\t755\t0\t0\t1\t1\t1\tetc/rc.d/init.d\t\n",
            "f\t755\t0\t0\t1\t1\t1\tetc/rc.d/init.d/network\t\n",
            "l\t755\t0\t0\t1\t1\t1\tetc/init.d\trc.d/init.d\n",
            "l\t755\t0\t0\t1\t1\t1\tetc/abs\t/etc/rc.d\n",
            "l\t755\t0\t0\t1\t1\t1\tetc/loop\t/etc/loop\n",
            "l\t755\t0\t0\t1\t1\t1\tetc/dangling\t/nowhere\n",
        ));
        let kind = |p: &str| listing.resolve(p).map(|e| e.file_type);
        assert_eq!(kind("/etc/init.d"), Some(FileType::Directory));
        assert_eq!(kind("/etc/init.d/network"), Some(FileType::File));
        assert_eq!(
            kind("/etc/abs/init.d/../init.d/network"),
            Some(FileType::File)
        );
        assert_eq!(kind("/etc/loop"), None);
        assert_eq!(kind("/etc/dangling"), None);
        assert_eq!(kind("/etc/init.d/missing"), None);
        assert!(listing.get("/etc/init.d/network").is_none());
    }

    #[test]
    fn parses_and_diffs() {
        let before = Listing::parse(BEFORE);
        assert_eq!(before.entries.len(), 4);
        assert_eq!(before.get("/etc/hostname").unwrap().mode, "0600");
        let after = Listing::parse(AFTER);
        let hashes = parse_hashes("abc  ./etc/new file\ndef  ./etc/motd\n");
        let changes = diff(&before, &after, &hashes);
        let summary: Vec<_> = changes.iter().map(|c| (c.kind, c.path.as_str())).collect();
        assert_eq!(
            summary,
            [
                (ChangeKind::Changed, "/etc/default.target"),
                (ChangeKind::Removed, "/etc/hostname"),
                (ChangeKind::Changed, "/etc/motd"),
                (ChangeKind::Added, "/etc/new file"),
            ]
        );
        assert_eq!(changes[2].details, ["mode 0644 -> 0755", "size 3 -> 9"]);
        assert_eq!(changes[3].sha256.as_deref(), Some("abc"));
        assert_eq!(
            changes[0].target.as_deref(),
            Some("/etc/systemd/system/runlast.target")
        );
    }

    #[test]
    fn globs_stay_within_a_component() {
        assert!(glob_match(
            "/etc/ssh/*key*",
            "/etc/ssh/ssh_host_rsa_key.pub"
        ));
        assert!(!glob_match("/etc/*", "/etc/ssh/x"));
        assert!(glob_match(
            "/etc/sysconfig/network-scripts/ifcfg-en?3",
            "/etc/sysconfig/network-scripts/ifcfg-ens3"
        ));
    }
}
