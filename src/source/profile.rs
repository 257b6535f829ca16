//! OS profiles: `golden-images/<os>/profile.toml`, what templates branch on (`os.<key>`).
use super::{Layout, read_text, toml_error};
use crate::error::{Error, Location, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct OsProfile {
    pub id: String,
    /// The golden image deployment plans attach when they ask for the profile's image.
    pub golden_image: Option<String>,
    /// Every key of the file (plus `id`), as templates see it under `os`.
    pub values: toml::Table,
    pub path: PathBuf,
    /// The file's text, for the build's input hashes.
    pub text: String,
    /// `[posture]`: the security posture the golden image ships with, if declared.
    pub posture: Option<Posture>,
}

/// An image's security posture (`[posture]` of `profile.toml`): what lint holds the plans to and
/// `golden-image check` verifies on an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Posture {
    /// `enforcing`, `permissive` or `disabled` (`SELINUX=` of /etc/selinux/config).
    pub selinux: SelinuxMode,
    /// The firewall service the image enables: `firewalld`, `iptables` or `none`.
    pub firewall: Firewall,
    /// What the image's firewall lets in before any plan runs (`22/tcp`, …).
    #[serde(default)]
    pub open: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelinuxMode {
    Enforcing,
    Permissive,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firewall {
    Firewalld,
    Iptables,
    None,
}

impl Posture {
    /// Reads `[posture]` from a profile's values; errors name the file.
    pub fn from_values(path: &Path, values: &toml::Table) -> Result<Option<Posture>> {
        let Some(table) = values.get("posture") else {
            return Ok(None);
        };
        let posture: Posture = table.clone().try_into().map_err(|e: toml::de::Error| {
            Error::at(
                Location::file(path),
                format!("[posture]: {}", e.message()),
            )
            .with_help("selinux = \"enforcing|permissive|disabled\", firewall = \"firewalld|iptables|none\", open = [\"22/tcp\"]")
        })?;
        for port in &posture.open {
            if super::contract::PortRange::parse(port).is_none() {
                return Err(Error::at(
                    Location::file(path),
                    format!(
                        "[posture] open: {port:?} is not PORT/tcp, PORT/udp or FIRST-LAST/PROTO"
                    ),
                ));
            }
        }
        Ok(Some(posture))
    }
}

impl OsProfile {
    /// Loads the profile of `os` (the directory name under `golden-images/`).
    pub fn load(layout: &Layout, os: &str, named_by: &Location) -> Result<OsProfile> {
        if os.is_empty() || os.contains(['/', '\\']) || os == "." || os == ".." {
            return Err(Error::at(
                named_by.clone(),
                format!("{os:?} is not an OS profile name"),
            ));
        }
        let path = layout.profile(os);
        if !path.is_file() {
            let available = available_profiles(layout);
            return Err(Error::at(
                named_by.clone(),
                format!(
                    "OS profile {os:?} not found: there is no {}",
                    layout.relative(&path).display()
                ),
            )
            .with_help(if available.is_empty() {
                "create golden-images/<os>/profile.toml (see docs/source-format.md)".to_string()
            } else {
                format!("available profiles: {}", available.join(", "))
            }));
        }
        layout.check_inside([&path])?;
        Self::from_file(&path, os)
    }

    pub fn from_file(path: &Path, os: &str) -> Result<OsProfile> {
        let text = read_text(path)?;
        let mut values: toml::Table =
            toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let id = match values.get("id") {
            Some(toml::Value::String(id)) => id.clone(),
            Some(_) => return Err(Error::at(Location::file(path), "`id` must be a string")),
            None => {
                values.insert("id".into(), toml::Value::String(os.to_string()));
                os.to_string()
            }
        };
        if id != os {
            return Err(Error::at(
                Location::file(path),
                format!("id = {id:?} but the profile lives in directory {os:?}; make them equal"),
            ));
        }
        let golden_image = match values.get("golden_image") {
            None => None,
            Some(toml::Value::String(s)) if s.is_empty() => None,
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(Error::at(
                    Location::file(path),
                    "`golden_image` must be a string",
                ));
            }
        };
        let posture = Posture::from_values(path, &values)?;
        Ok(OsProfile {
            id,
            golden_image,
            posture,
            values,
            path: path.to_path_buf(),
            text,
        })
    }
}

fn available_profiles(layout: &Layout) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(layout.root.join(Layout::PROFILES))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("profile.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
