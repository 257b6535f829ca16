//! `simulate --demo`: the simulator seeded as a small lab for the project at hand, so that
//! `build` → `publish` → `deploy` work without hardware.
//!
//! - Enclosure `frame1` with four device bays of powered-off server hardware
//!   (`frame1, bay 1` … `frame1, bay 4`).
//! - A golden image stand-in (metadata only, no payload) for every golden image the project's
//!   OS profiles name (`golden-images/*/profile.toml`, `golden_image`), so that deployment plans
//!   attach to them on publish.
//! - A server profile template for every deployment plan of `bundles-src/*.toml`, named like
//!   the plan (`Docker Debian 12`), with one deployment-network connection and no OS deployment
//!   plan yet: `publish --profile-template "NAME=PLAN"` points it at the published plan.
use super::servers::lab_seed;
use crate::appliance::api::{
    GOLDEN_IMAGES, SERVER_HARDWARE_TYPES, SERVER_PROFILE_TEMPLATES, member,
};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

pub const ENCLOSURE: &str = "frame1";
pub const BAYS: u32 = 4;

/// The seed for `project` (see the module docs); errors name the file that could not be read.
pub fn seed(project: &Path) -> Result<Value> {
    let mut seed = lab_seed(&[ENCLOSURE], BAYS, &[]);
    let images: Vec<Value> = golden_image_names(project)?
        .into_iter()
        .map(|name| {
            json!({"type": "GoldenImage", "name": name, "description": "stand-in seeded by i3s-bundle simulate --demo (metadata only)",
                   "imageCapture": false, "checkSum": "", "size": 0, "bundleName": "", "importedFromBundle": false})
        })
        .collect();
    let templates: Vec<Value> = deployment_plan_names(project)?
        .into_iter()
        .map(|name| {
            json!({"type": "ServerProfileTemplateV8", "name": name, "description": "seeded by i3s-bundle simulate --demo",
                   "serverHardwareTypeUri": member(SERVER_HARDWARE_TYPES, "SY480-Gen10"),
                   "connectionSettings": {"connections": [{"id": 3, "name": "Deployment Network A", "functionType": "Ethernet", "boot": {"priority": "Primary"}}]}})
        })
        .collect();
    seed[GOLDEN_IMAGES] = Value::Array(images);
    seed[SERVER_PROFILE_TEMPLATES] = Value::Array(templates);
    Ok(seed)
}

fn toml_files(
    dir: &Path,
    pattern: impl Fn(&Path) -> Option<std::path::PathBuf>,
) -> Result<Vec<std::path::PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; --demo seeds the lab from a project: run it in the project's root or give -C DIR",
            dir.display()
        ))
    })?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| pattern(&e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.message())))
}

/// `golden_image` of every OS profile.
pub fn golden_image_names(project: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for profile in toml_files(&project.join("golden-images"), |d| {
        Some(d.join("profile.toml"))
    })? {
        if let Some(name) = read_table(&profile)?
            .get("golden_image")
            .and_then(|v| v.as_str())
        {
            names.insert(name.to_string());
        }
    }
    Ok(names)
}

/// `name` of every `[[deployment_plan]]` of the bundle sources.
fn deployment_plan_names(project: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let sources = toml_files(&project.join("bundles-src"), |p| {
        (p.extension().is_some_and(|e| e == "toml")).then(|| p.to_path_buf())
    })?;
    for source in sources {
        let table = read_table(&source)?;
        for plan in table
            .get("deployment_plan")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(name) = plan.get("name").and_then(|v| v.as_str()) {
                names.insert(name.to_string());
            }
        }
    }
    Ok(names)
}

/// The golden image an OS's profile names (`golden-images/<os>/profile.toml`), if `os` is one.
pub fn golden_image_of(project: &Path, os: &str) -> Result<Option<String>> {
    let profile = project.join("golden-images").join(os).join("profile.toml");
    if os.contains('/') || !profile.is_file() {
        return Ok(None);
    }
    Ok(read_table(&profile)?
        .get("golden_image")
        .and_then(|v| v.as_str())
        .map(str::to_string))
}
