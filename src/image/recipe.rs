//! `golden-images/<os>/recipe.toml`: how `golden-image build` makes an OS's golden image from its
//! distribution's archive (suite, mirror, optional snapshot, packages, what to remove, the disk,
//! files to add). The one place the build reads; an OS without a recipe is not buildable.
use super::fake::{DiskLayout, Firmware};
use super::os::{FakeFile, FakeSkeleton, FakeSymlink, OsDefinition};
use crate::error::{Error, Location, Result};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The release (`bookworm`).
    pub suite: String,
    /// The archive URL (`--mirror` overrides it).
    pub mirror: String,
    /// A snapshot.debian.org timestamp (`20251101T000000Z`); empty: the mirror as it is today.
    #[serde(default)]
    pub snapshot: String,
    pub components: Vec<String>,
    /// mmdebstrap's `--variant` (`minbase`, `required`, `important`, …).
    pub variant: String,
    /// SOURCE_DATE_EPOCH for the tools that stamp times.
    pub source_date_epoch: u64,
    pub packages: Vec<String>,
    /// Shell globs (absolute, inside the root) removed from the tree before it goes on the disk.
    #[serde(default)]
    pub remove: Vec<String>,
    pub disk: DiskSpec,
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default, rename = "file")]
    pub files: Vec<FakeFile>,
    #[serde(default, rename = "symlink")]
    pub symlinks: Vec<FakeSymlink>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// `2G`, `1536M`.
    pub size: String,
    /// `bios` (grub-pc; the only one the build installs so far).
    pub firmware: String,
    pub boot_mib: u64,
    #[serde(default)]
    pub swap_mib: u64,
}

/// A recipe with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedRecipe {
    pub path: PathBuf,
    pub text: String,
    pub recipe: Recipe,
}

impl LoadedRecipe {
    /// Reads and checks `recipe.toml` of `os`.
    pub fn load(os: &OsDefinition) -> Result<LoadedRecipe> {
        let path = os.dir.join("recipe.toml");
        if !path.exists() {
            return Err(Error::Usage(format!(
                "{}: no recipe.toml: `golden-image build` builds only OSes with a recipe (see docs/adding-an-os.md)",
                os.dir.display()
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let recipe: Recipe = toml::from_str(&text).map_err(|e| {
            let mut location = Location::file(&path);
            if let Some(span) = e.span() {
                let (line, column) = crate::error::line_column(&text, span.start);
                location = location.at(line, column);
            }
            Error::at(location, e.message().to_string())
        })?;
        let loaded = LoadedRecipe { path, text, recipe };
        loaded.validate()?;
        Ok(loaded)
    }

    fn problem(&self, message: String) -> Error {
        Error::at(Location::file(&self.path), message)
    }

    /// Everything that ends up on mmdebstrap's command line or in its hooks is a plain word.
    fn validate(&self) -> Result<()> {
        let r = &self.recipe;
        let word = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".+-_".contains(c) || extra.contains(c))
        };
        for (what, value) in [("suite", &r.suite), ("variant", &r.variant)] {
            if !word(value, "") {
                return Err(self.problem(format!("{what} {value:?} is not a plain word")));
            }
        }
        if let Some(bad) = r
            .packages
            .iter()
            .chain(&r.components)
            .find(|p| !word(p, ""))
        {
            return Err(self.problem(format!(
                "package or component {bad:?} is not a Debian package name"
            )));
        }
        if !r.snapshot.is_empty() && !word(&r.snapshot, "") {
            return Err(self.problem(format!(
                "snapshot {:?}: expected a timestamp like 20251101T000000Z",
                r.snapshot
            )));
        }
        // Globs go unquoted into `rm -rf -- "$1"GLOB` (mmdebstrap runs hooks with sh): only
        // path characters and `*`, absolute, no `..`.
        if let Some(bad) = r.remove.iter().find(|p| {
            !p.starts_with('/')
                || p.contains("..")
                || !p[1..].split('/').all(|part| word(part, "*"))
        }) {
            return Err(self.problem(format!(
                "remove {bad:?}: an absolute path of plain words and `*` only"
            )));
        }
        if r.disk.firmware != "bios" {
            return Err(self.problem(format!(
                "disk.firmware {:?}: only \"bios\" (grub-pc) is built so far",
                r.disk.firmware
            )));
        }
        Ok(())
    }

    /// The archive to install from: `--mirror`, else the snapshot, else the recipe's mirror.
    pub fn mirror(&self, mirror_override: Option<&str>) -> String {
        match mirror_override {
            Some(m) => m.to_string(),
            None if !self.recipe.snapshot.is_empty() => format!(
                "https://snapshot.debian.org/archive/debian/{}/",
                self.recipe.snapshot
            ),
            None => self.recipe.mirror.clone(),
        }
    }

    pub fn layout(&self) -> DiskLayout {
        DiskLayout {
            firmware: Firmware::Bios,
            firmware_mib: 1,
            boot_mib: self.recipe.disk.boot_mib,
            swap_mib: self.recipe.disk.swap_mib,
        }
    }

    /// The files and links written after the tree is copied in.
    pub fn skeleton(&self) -> FakeSkeleton {
        FakeSkeleton {
            directories: self.recipe.directories.clone(),
            files: self.recipe.files.clone(),
            symlinks: self.recipe.symlinks.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::os::debian12;

    #[test]
    fn the_debian12_recipe_loads_and_names_what_a_bootable_image_needs() {
        let loaded = LoadedRecipe::load(&debian12()).unwrap();
        for package in [
            "systemd-sysv",
            "linux-image-amd64",
            "grub-pc",
            "lvm2",
            "openssh-server",
        ] {
            assert!(
                loaded.recipe.packages.iter().any(|p| p == package),
                "{package}"
            );
        }
        assert_eq!(loaded.mirror(None), "http://deb.debian.org/debian");
        assert_eq!(loaded.mirror(Some("http://m/debian")), "http://m/debian");
    }

    #[test]
    fn a_snapshot_chooses_the_mirror_and_shell_words_are_refused() {
        let base = LoadedRecipe::load(&debian12()).unwrap();
        let mut snap = base.clone();
        snap.recipe.snapshot = "20251101T000000Z".into();
        assert_eq!(
            snap.mirror(None),
            "https://snapshot.debian.org/archive/debian/20251101T000000Z/"
        );
        for (field, value) in [
            ("package", "curl; rm -rf /"),
            ("remove", "/etc/$(reboot)"),
            ("remove", "etc/hostname"),
            ("remove", "/etc/../../x"),
            ("firmware", "efi"),
        ] {
            let mut bad = base.clone();
            match field {
                "package" => bad.recipe.packages.push(value.into()),
                "remove" => bad.recipe.remove.push(value.into()),
                _ => bad.recipe.disk.firmware = value.into(),
            }
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("recipe.toml"), "{value}: {err}");
        }
    }
}
