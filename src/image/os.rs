//! An OS's golden image definition: `golden-images/<os>/` with the OS profile (`profile.toml`,
//! shared with the templates), the image requirements (`requirements.toml`) and the skeleton a
//! fake image holds (`fake.toml`).
use super::requirements::Requirement;
use crate::error::{Error, Location, Result};
use crate::source::profile::Posture;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The keys of `profile.toml` the image code needs (the file has more; see docs/source-format.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The root logical volume, `/dev/<vg>/<lv>`.
    pub root_lv: String,
    pub vg: String,
    #[serde(default)]
    pub package_manager: Option<String>,
}

/// What `golden-image fake` writes into the root file system.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeSkeleton {
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default, rename = "file")]
    pub files: Vec<FakeFile>,
    #[serde(default, rename = "symlink")]
    pub symlinks: Vec<FakeSymlink>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeFile {
    pub path: String,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default)]
    pub content: String,
}

fn default_mode() -> String {
    "0644".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeSymlink {
    pub path: String,
    pub target: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementsFile {
    #[serde(rename = "requirement")]
    requirements: Vec<Requirement>,
}

/// Everything known about one OS's golden image.
#[derive(Debug, Clone)]
pub struct OsDefinition {
    pub dir: PathBuf,
    pub profile: Profile,
    pub requirements: Vec<Requirement>,
    pub fake: FakeSkeleton,
    /// `[posture]` of the profile (parsed by the source's own parser): `check` verifies it.
    pub posture: Option<Posture>,
}

impl OsDefinition {
    /// Loads `dir` (a `golden-images/<os>` directory).
    pub fn load(dir: &Path) -> Result<OsDefinition> {
        let profile_path = dir.join("profile.toml");
        let profile: Profile = read_toml(&profile_path)?;
        let values: toml::Table = read_toml(&profile_path)?;
        let posture = Posture::from_values(&profile_path, &values)?;
        let (vg, lv) = split_lv(&profile.root_lv).ok_or_else(|| {
            Error::at(
                Location::file(dir.join("profile.toml")),
                format!("root_lv {:?} is not /dev/<vg>/<lv>", profile.root_lv),
            )
        })?;
        if vg != profile.vg {
            return Err(Error::at(
                Location::file(dir.join("profile.toml")),
                format!(
                    "root_lv {:?} is not in vg {:?} ({lv} is in {vg})",
                    profile.root_lv, profile.vg
                ),
            ));
        }
        let requirements: RequirementsFile = read_toml(&dir.join("requirements.toml"))?;
        let fake_path = dir.join("fake.toml");
        let fake = if fake_path.exists() {
            read_toml(&fake_path)?
        } else {
            FakeSkeleton::default()
        };
        Ok(OsDefinition {
            dir: dir.to_path_buf(),
            profile,
            requirements: requirements.requirements,
            fake,
            posture,
        })
    }

    /// Finds an OS by name (`centos7.4`: `golden-images/centos7.4` in `repo` or, without it, in the
    /// current directory or a parent) or by path (anything with a `/`).
    pub fn find(os: &str, repo: Option<&Path>) -> Result<OsDefinition> {
        if os.contains('/') {
            return Self::load(Path::new(os));
        }
        let start = match repo {
            Some(repo) => repo.to_path_buf(),
            None => std::env::current_dir().map_err(|e| Error::io(".", e))?,
        };
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            let candidate = d.join("golden-images").join(os);
            if candidate.join("profile.toml").exists() {
                return Self::load(&candidate);
            }
            if repo.is_some() {
                break;
            }
            dir = d.parent();
        }
        Err(Error::Usage(format!(
            "no golden-images/{os}/profile.toml found from {} upwards (pass --repo DIR or a path to the OS directory)",
            start.display()
        )))
    }

    /// The root LV's volume group and LV name.
    pub fn root_lv_parts(&self) -> (&str, &str) {
        split_lv(&self.profile.root_lv).expect("checked on load")
    }
}

/// `/dev/cl/root` → (`cl`, `root`).
pub fn split_lv(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    (!vg.is_empty() && !lv.is_empty() && !lv.contains('/')).then_some((vg, lv))
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| {
        let mut location = Location::file(path);
        if let Some(span) = e.span() {
            let (line, column) = crate::error::line_column(&text, span.start);
            location = location.at(line, column);
        }
        Error::at(location, e.message().to_string())
    })
}

/// The repository's Debian 12 definition, for tests.
#[cfg(test)]
pub(crate) fn debian12() -> OsDefinition {
    OsDefinition::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images/debian12"))
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_os_definitions_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
        for os in ["centos7.4", "fedora27"] {
            let def = OsDefinition::load(&root.join(os)).unwrap();
            assert_eq!(def.profile.id, os);
            assert!(!def.requirements.is_empty());
            assert!(!def.fake.files.is_empty());
            assert!(def.posture.is_some(), "{os} declares [posture]");
        }
    }

    #[test]
    fn splits_lv_paths() {
        assert_eq!(split_lv("/dev/cl/root"), Some(("cl", "root")));
        assert_eq!(split_lv("/dev/root"), None);
        assert_eq!(split_lv("cl/root"), None);
    }
}
