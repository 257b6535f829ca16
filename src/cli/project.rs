//! Finding the project root the way cargo finds Cargo.toml: from the current directory up to
//! the first directory holding the marker, unless `-C/--root DIR` names it.
//!
//! The marker is the `bundles-src/` directory, an existing part of every project: `build` needs
//! it, `init` writes it, `lint` already recognises a project by it. `attributes.toml` and
//! `project.toml` are optional (a project without them builds plain scripts), so they cannot
//! mark a project, and a new marker file would break every existing project.
use crate::source::Layout;
use std::path::{Path, PathBuf};

/// The project directory option shared by every command that works on a project.
#[derive(Debug, Clone, clap::Args)]
pub struct RootArg {
    /// The project directory (holds bundles-src/). Default: the current directory or the
    /// nearest parent holding bundles-src/, as cargo finds Cargo.toml.
    #[arg(long = "root", short = 'C', value_name = "DIR", alias = "repo")]
    pub root: Option<PathBuf>,
}

impl RootArg {
    /// The project root: `-C DIR` as given, else found from the current directory upwards.
    pub fn resolve(&self) -> crate::Result<PathBuf> {
        match &self.root {
            Some(dir) => Ok(dir.clone()),
            None => find_from_cwd(),
        }
    }
}

/// The first directory from `start` upwards holding the marker.
pub fn search(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| crate::lint::sources::is_project(dir))
        .map(Path::to_path_buf)
}

/// The project holding the current directory; `.` when it is the current directory itself (so
/// paths in reports stay as short as before).
pub fn find_from_cwd() -> crate::Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| crate::Error::io(".", e))?;
    match search(&cwd) {
        Some(root) if root == cwd => Ok(PathBuf::from(".")),
        Some(root) => Ok(root),
        None => Err(crate::Error::Usage(format!(
            "not inside an i3s-bundle project: neither {} nor any parent holds {}/; cd into the \
             project, pass -C DIR, or create one with `i3s-bundle init`",
            cwd.display(),
            Layout::BUNDLES
        ))),
    }
}
