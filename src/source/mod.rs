//! The project on disk: bundle TOML files, OS profiles, the attribute registry, plain plan
//! scripts with headers, and (for `import`/`init`) writing such a project. See
//! `docs/source-format.md`, the contract this module implements.
pub mod bundle_file;
pub mod contract;
pub mod import;
pub mod init;
pub mod plan_script_file;
pub mod profile;
pub mod registry;

pub use bundle_file::{
    BuildPlanSource, BundleFile, BundleMeta, DeploymentPlanSource, PinnedAttribute, StepSource,
};
pub use plan_script_file::PlainPlanScript;
pub use profile::OsProfile;
pub use registry::{Registry, RegistryEntry};

use crate::error::{Error, Location, Result, line_column};
use std::path::{Path, PathBuf};

/// Where things live inside a project root (the layout of `docs/source-format.md`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    /// The root with every symlink resolved, once (see [`Layout::check_inside`]).
    canonical_root: std::sync::OnceLock<PathBuf>,
    /// Directories known to resolve inside the root (a plain file in one is inside: one lstat
    /// instead of a full path resolution, which matters for 100,000 plan scripts).
    inside_dirs: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>>,
}

impl Layout {
    pub const REGISTRY: &'static str = "attributes.toml";
    pub const PROJECT: &'static str = "project.toml";
    pub const BUNDLES: &'static str = "bundles-src";
    pub const TEMPLATES: &'static str = "templates";
    pub const PLAN_SCRIPTS: &'static str = "plan-scripts";
    pub const PROFILES: &'static str = "golden-images";
    pub const PLAN_SCRIPT_EXTENSION: &'static str = "gf";
    pub const TEMPLATE_EXTENSION: &'static str = "j2";

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout {
            root: root.into(),
            canonical_root: std::sync::OnceLock::new(),
            inside_dirs: Default::default(),
        }
    }
    pub fn registry(&self) -> PathBuf {
        self.root.join(Self::REGISTRY)
    }
    pub fn project_file(&self) -> PathBuf {
        self.root.join(Self::PROJECT)
    }
    pub fn bundles_dir(&self) -> PathBuf {
        self.root.join(Self::BUNDLES)
    }
    pub fn templates_dir(&self) -> PathBuf {
        self.root.join(Self::TEMPLATES)
    }
    pub fn plan_scripts_dir(&self) -> PathBuf {
        self.root.join(Self::PLAN_SCRIPTS)
    }
    pub fn profile(&self, os: &str) -> PathBuf {
        self.root.join(Self::PROFILES).join(os).join("profile.toml")
    }
    pub fn plan_script(&self, stem: &str) -> PathBuf {
        self.plan_scripts_dir()
            .join(format!("{stem}.{}", Self::PLAN_SCRIPT_EXTENSION))
    }
    pub fn template(&self, name: &str) -> PathBuf {
        self.templates_dir().join(template_file_name(name))
    }
    /// A path relative to the root, for reports, depfiles and the cache (stable across checkouts).
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }

    /// Refuses any of `paths` that resolves outside the project root, naming the file, the
    /// symlink that leads out and its target (issue #19: a template linked to /etc/passwd must not
    /// land in a bundle). Symlinks that stay inside the project are fine. Called before each
    /// source file is read (bundle TOML, registry, OS profile, template, plain plan script,
    /// golden image payload), so nothing outside is even parsed.
    pub fn check_inside(&self, paths: impl IntoIterator<Item = impl AsRef<Path>>) -> Result<()> {
        let root = match self.canonical_root.get() {
            Some(root) => root,
            None => {
                let given = if self.root.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &self.root
                };
                let root = given.canonicalize().map_err(|e| Error::io(given, e))?;
                self.canonical_root.get_or_init(|| root)
            }
        };
        for path in paths {
            let path = path.as_ref();
            if self.plain_file_in_inside_dir(root, path) {
                continue;
            }
            let resolved = path.canonicalize().map_err(|e| Error::io(path, e))?;
            if resolved.starts_with(root) {
                continue;
            }
            // The file itself or the first directory on its way inside the project that is a link.
            let link = path
                .ancestors()
                .take_while(|p| p.starts_with(&self.root))
                .find(|p| {
                    p.symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                })
                .and_then(|l| std::fs::read_link(l).ok().map(|target| (l, target)));
            let how = match link {
                Some((link, target)) => format!(
                    "{} is a symlink to {}",
                    self.relative(link).display(),
                    target.display()
                ),
                None => "its path leads out of the project".to_string(),
            };
            return Err(Error::at(
                Location::file(self.relative(path)),
                format!(
                    "resolves to {}, outside the project {} ({how}); a build reads only files inside the project",
                    resolved.display(),
                    root.display()
                ),
            )
            .with_help("copy the file into the project, or link to a file inside it"));
        }
        Ok(())
    }

    /// The fast path of [`Layout::check_inside`]: `path` names, without `..`, a file that is not
    /// a symlink, in a directory that resolves inside the root (remembered per directory).
    fn plain_file_in_inside_dir(&self, root: &Path, path: &Path) -> bool {
        let lexically_inside = path.strip_prefix(&self.root).is_ok_and(|rel| {
            rel.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        });
        let plain_file = path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_file());
        let Some(dir) = path.parent().filter(|_| lexically_inside && plain_file) else {
            return false;
        };
        let known = |dirs: &std::collections::HashSet<PathBuf>| dirs.contains(dir);
        if self.inside_dirs.lock().is_ok_and(|dirs| known(&dirs)) {
            return true;
        }
        let inside = dir.canonicalize().is_ok_and(|d| d.starts_with(root));
        if inside && let Ok(mut dirs) = self.inside_dirs.lock() {
            dirs.insert(dir.to_path_buf());
        }
        inside
    }

    /// Every `bundles-src/*.toml`, sorted by file name.
    pub fn bundle_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.bundles_dir();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// `mount` and `mount.j2` both name `templates/mount.j2`.
pub fn template_file_name(name: &str) -> String {
    if name.ends_with(".j2") {
        name.to_string()
    } else {
        format!("{name}.{}", Layout::TEMPLATE_EXTENSION)
    }
}

/// Reads a UTF-8 text file; errors name the file.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        Error::at(Location::file(path).at(line, column), "is not valid UTF-8")
    })
}

/// Turns a TOML parse error into one naming file, line and column.
pub fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> Error {
    let mut location = Location::file(path);
    if let Some(span) = error.span() {
        let (line, column) = line_column(text, span.start);
        location = location.at(line, column);
    }
    Error::at(location, error.message().to_string())
}

/// The location of a byte offset in a file's text.
pub fn location_of(path: &Path, text: &str, offset: usize) -> Location {
    let (line, column) = line_column(text, offset);
    Location::file(path).at(line, column)
}

/// Optional `project.toml`: the release archive's name and version.
#[derive(Debug, Clone, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl ProjectFile {
    /// Reads `project.toml` when present.
    pub fn load(layout: &Layout) -> Result<Option<(ProjectFile, String)>> {
        let path = layout.project_file();
        if !path.exists() {
            return Ok(None);
        }
        let text = read_text(&path)?;
        let file: ProjectFile = toml::from_str(&text).map_err(|e| toml_error(&path, &text, &e))?;
        Ok(Some((file, text)))
    }
}
