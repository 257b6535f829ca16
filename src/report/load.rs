//! What a report is made from: a bundle zip, or a bundle source of the project
//! (`bundles-src/NAME.toml`, or just `NAME` inside a project) compiled in memory and written to a
//! temporary zip, so that the manifest and checksums shown are those `build` would write.
use crate::bundle::inspect::{InspectReport, inspect};
use crate::bundle::{LoadedBundle, ReadOptions, read_bundle, write_bundle};
use crate::error::{Error, Result};
use crate::lint::sources::{CompiledSource, bundle_source_root, compile_project};
use crate::lint::target::Target;
use crate::lint::{LintOptions, lint_target};
use std::path::{Path, PathBuf};

/// A bundle ready for a report.
pub struct Loaded {
    pub loaded: LoadedBundle,
    /// The compiled source, when the bundle came from one (its lint findings point at templates).
    pub source: Option<CompiledSource>,
    /// What the user named (shown as the bundle's path).
    pub label: PathBuf,
}

impl Loaded {
    /// Opens a bundle zip, a bundle source file, or a bundle source by name. `project` finds the
    /// project root for a bare name (the caller's "from here upwards").
    pub fn open(
        arg: &Path,
        options: &ReadOptions,
        project: impl FnOnce() -> Result<PathBuf>,
    ) -> Result<Loaded> {
        let source = match bundle_source_root(arg).filter(|_| arg.is_file()) {
            Some(root) => Some((root, arg.to_path_buf())),
            None if !arg.exists() && arg.components().count() == 1 && arg.extension().is_none() => {
                let root = project()?;
                let file = crate::source::Layout::new(&root)
                    .bundles_dir()
                    .join(arg)
                    .with_extension("toml");
                if !file.is_file() {
                    return Err(Error::Usage(format!(
                        "{}: no such bundle zip, and no bundle source {} in the project; name a zip, \
                         a bundles-src/NAME.toml, or a NAME from bundles-src/",
                        arg.display(),
                        file.display()
                    )));
                }
                Some((root, file))
            }
            None => None,
        };
        let Some((root, file)) = source else {
            return Ok(Loaded {
                loaded: read_bundle(arg, options)?,
                source: None,
                label: arg.to_path_buf(),
            });
        };
        let compiled = compile_project(&root, Some(&file))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Usage(format!("{}: no bundle compiled", file.display())))?;
        let temp = tempfile::Builder::new()
            .prefix("i3s-report-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let zip = temp.path().join(&compiled.compiled.zip_name);
        write_bundle(&compiled.compiled.bundle, &zip)?;
        Ok(Loaded {
            loaded: read_bundle(&zip, options)?,
            source: Some(compiled),
            label: file,
        })
    }

    /// The lint target: the compiled source's (template lines), else the zip's.
    pub fn target(&self) -> Target<'_> {
        match &self.source {
            Some(source) => source.target(),
            None => Target::from_zip(&self.loaded),
        }
    }

    /// The inspect report, with the path the user named.
    pub fn report(&self) -> InspectReport {
        let mut report = inspect(&self.loaded);
        report.path = self.label.display().to_string();
        report
    }
}

/// Lint findings for the page: every rule but shellcheck (a report must not depend on what is
/// installed; `lint` runs it), allow lists from `config`.
pub fn lint_for_report(target: &Target, config: crate::lint::Config) -> crate::lint::Report {
    let options = LintOptions {
        config,
        shellcheck: false,
        cache_dir: None,
    };
    let mut report = lint_target(target, &options);
    report
        .notices
        .push("shellcheck was not run for this report (`i3s-bundle lint` runs it)".to_string());
    report
}
