//! Render-to-files: the files a plan script's `upload -<<END /path` here-documents would place in
//! the image, with the modes (`chmod`) and symlinks (`ln-s`, `ln-sf`) the script sets, written
//! as plain files — so the same source serves hosts without Image Streamer (cloud-init, Terraform).
//!
//! Built on the shared plan-script parser (`crate::guestfish::parse`).
use crate::error::{Error, Location, Result};
use crate::guestfish::{ProblemKind, commands};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadedFile {
    /// Absolute path inside the image.
    pub path: String,
    /// The here-document body plus the final newline guestfish adds.
    pub content: String,
    /// From the last `chmod` of that path after the upload; `None` = the image's default.
    pub mode: Option<u32>,
    /// 1-based line of the `upload` command.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Symlink {
    pub link: String,
    pub target: String,
    pub line: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilesPlan {
    pub files: Vec<UploadedFile>,
    pub symlinks: Vec<Symlink>,
    pub directories: Vec<String>,
}

/// Reads the uploads, modes, symlinks and directories of a (rendered, substituted) plan script.
/// `file` names the script in errors. An unterminated here-document is an error: guestfish would
/// swallow the rest of the script.
pub fn extract_files(content: &str, file: &Path) -> Result<FilesPlan> {
    let script = crate::guestfish::parse(content);
    if let Some(problem) = script
        .problems
        .iter()
        .find(|p| matches!(p.kind, ProblemKind::UnterminatedHereDoc { .. }))
    {
        let mut at = Location::file(file).line(problem.line);
        at.column = problem.column;
        return Err(Error::at(at, problem.message.clone()));
    }
    let mut files: BTreeMap<String, UploadedFile> = BTreeMap::new();
    let mut plan = FilesPlan::default();
    for command in &script.commands {
        let (name, args) = commands::unprefix(&command.name, &command.args);
        let line = command.line;
        let at = || Location::file(file).line(line);
        if let Some(heredoc) = &command.heredoc {
            if name == "upload" {
                if heredoc.path.is_empty() {
                    return Err(Error::at(at(), "upload -<<END needs a target path"));
                }
                files.insert(
                    heredoc.path.clone(),
                    UploadedFile {
                        path: heredoc.path.clone(),
                        content: heredoc.file_content(),
                        mode: None,
                        line,
                    },
                );
            }
            continue;
        }
        match (name, args) {
            ("chmod", [mode, path, ..]) => {
                let mode = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
                    .map_err(|_| Error::at(at(), format!("chmod mode {mode:?} is not octal")))?;
                if let Some(f) = files.get_mut(path) {
                    f.mode = Some(mode);
                }
            }
            ("ln-s" | "ln-sf", [target, link, ..]) => {
                plan.symlinks.retain(|s| &s.link != link);
                plan.symlinks.push(Symlink {
                    link: link.clone(),
                    target: target.clone(),
                    line,
                });
            }
            ("mkdir" | "mkdir-p", [dir, ..]) => plan.directories.push(dir.clone()),
            ("rm" | "rm-f", paths) => {
                for path in paths {
                    files.remove(path);
                    plan.symlinks.retain(|s| &s.link != path);
                }
            }
            ("rm-rf", paths) => {
                for path in paths {
                    let prefix = format!("{}/", path.trim_end_matches('/'));
                    files.retain(|p, _| p != path && !p.starts_with(&prefix));
                    plan.symlinks
                        .retain(|s| &s.link != path && !s.link.starts_with(&prefix));
                }
            }
            _ => {}
        }
    }
    plan.files = files.into_values().collect();
    plan.files.sort_by_key(|f| f.line);
    Ok(plan)
}

/// `/etc/x` → `<out>/etc/x`, refusing anything that would leave `out`.
fn inside(out: &Path, image_path: &str, file: &Path, line: usize) -> Result<PathBuf> {
    let relative = Path::new(image_path.trim_start_matches('/'));
    if !image_path.starts_with('/')
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::at(
            Location::file(file).line(line),
            format!("{image_path:?} is not a plain absolute path inside the image"),
        ));
    }
    Ok(out.join(relative))
}

/// Writes the plan's files under `out` (created as needed). Files without a `chmod` get 0644.
pub fn write_files(plan: &FilesPlan, out: &Path, file: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    for dir in &plan.directories {
        let path = inside(out, dir, file, 0)?;
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    for f in &plan.files {
        let path = inside(out, &f.path, file, f.line)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, &f.content).map_err(|e| Error::io(&path, e))?;
        set_mode(&path, f.mode.unwrap_or(0o644))?;
    }
    for link in &plan.symlinks {
        let path = inside(out, &link.link, file, link.line)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        make_symlink(&link.target, &path)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}
#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::io(link, e))
}
#[cfg(not(unix))]
fn make_symlink(_: &str, link: &Path) -> Result<()> {
    Err(Error::Other(format!(
        "{}: symlinks need a Unix system",
        link.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_modes_links_and_removals() {
        let script = "mount /dev/cl/root /\nupload -<<END /usr/local/bin/a.sh\n#!/bin/bash\n  echo \"$HOME\"\nEND\nchmod 0755 /usr/local/bin/a.sh\n-upload -<<EOF /etc/x\nEND\nEOF\nln-s /etc/systemd/system/a.service /etc/systemd/system/runlast.target.wants/a.service\nupload -<<END /tmp/gone\nx\nEND\nrm-f /tmp/gone\numount /";
        let plan = extract_files(script, Path::new("s.gf")).unwrap();
        assert_eq!(plan.files.len(), 2);
        assert_eq!(plan.files[0].content, "#!/bin/bash\n  echo \"$HOME\"\n");
        assert_eq!(plan.files[0].mode, Some(0o755));
        assert_eq!(plan.files[1].content, "END\n");
        assert_eq!(plan.symlinks[0].target, "/etc/systemd/system/a.service");
    }

    #[test]
    fn unterminated_here_document_names_its_line() {
        let e = extract_files("echo\nupload -<<END /x\nno end", Path::new("s.gf")).unwrap_err();
        assert!(e.to_string().starts_with("s.gf:2"), "{e}");
    }
}
