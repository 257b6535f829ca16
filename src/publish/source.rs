//! What one bundle zip asks for: its name on the appliance, its content hash, its artifacts, and
//! the golden image each deployment plan attaches.
use crate::bundle::{
    Bundle, ChecksumFlavour, LoadedBundle, Payload, ReadOptions, read_bundle, verify::verify,
};
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BundleSource {
    pub path: PathBuf,
    /// The bundle's name on the appliance: the upload file name without `.zip`
    /// (docs/appliance-api.md §3.3).
    pub name: String,
    pub sha256: String,
    pub bundle: Bundle,
    /// Deployment plan name → golden image name to attach (`None`: the plan has none).
    pub golden_images: BTreeMap<String, Option<String>>,
    /// Where each golden image choice came from, for messages.
    pub golden_image_origin: BTreeMap<String, String>,
    /// Golden image name → sha256 of its payload, for the images the bundle carries (known when
    /// the bundle's checksum flavour is sha256: reading it hashed them).
    pub payload_sha256: BTreeMap<String, String>,
}

/// Golden image name → sha256 of the payload the bundle carries for it, taken from the digests
/// computed while reading (only for sha256 bundles; other flavours give none).
pub fn payload_sha256(loaded: &LoadedBundle) -> BTreeMap<String, String> {
    if loaded.bundle.checksum != ChecksumFlavour::Sha256 {
        return BTreeMap::new();
    }
    loaded
        .bundle
        .golden_images
        .iter()
        .filter_map(|g| match &g.payload {
            Some(Payload::ZipEntry { entry, .. }) => {
                let digest = loaded
                    .entries
                    .iter()
                    .find(|e| &e.name == entry)?
                    .digest
                    .clone()?;
                Some((g.image.name.clone(), digest.to_ascii_lowercase()))
            }
            _ => None,
        })
        .collect()
}

/// The sidecar a build writes next to `X.zip`: `X.publish.json` (see [`crate::build::sidecar`]).
pub fn sidecar_path(zip: &Path) -> PathBuf {
    crate::build::sidecar::path(zip)
}

/// Reads and verifies a bundle zip and works out the golden images its plans attach: an explicit
/// `--golden-image PLAN=IMAGE` wins over the sidecar `X.publish.json` (which `build` writes next to
/// every zip), which wins over the zip's own `goldenImageURI` (a name inside bundles). The hidden
/// build cache is not read: CI artifact actions drop hidden files, and publish must plan the same
/// from a copy of `dist/`.
pub fn load(path: &Path, explicit: &[(String, String)]) -> Result<BundleSource> {
    let loaded = read_bundle(path, &ReadOptions::default())?;
    let report = verify(&loaded);
    if !report.is_clean() {
        let problems: Vec<String> = report
            .errors()
            .map(|p| format!("  {}: {}", p.entry, p.message))
            .collect();
        return Err(Error::Usage(format!(
            "{}: the bundle does not verify; nothing was sent:\n{}",
            path.display(),
            problems.join("\n")
        )));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.strip_suffix(".zip")
                .or_else(|| n.strip_suffix(".ZIP"))
                .unwrap_or(n)
                .to_string()
        })
        .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
    let sha256 = file_sha256(path)?;
    let sidecar = read_sidecar(&sidecar_path(path), &sha256)?;
    let sidecar_origin = sidecar_path(path).display().to_string();
    let mut golden_images = BTreeMap::new();
    let mut golden_image_origin = BTreeMap::new();
    for plan in &loaded.bundle.deployment_plans {
        let (image, origin) =
            if let Some((_, image)) = explicit.iter().find(|(p, _)| *p == plan.name) {
                (Some(image.clone()), "--golden-image".to_string())
            } else if let Some(image) = sidecar.get(&plan.name) {
                (image.clone(), sidecar_origin.clone())
            } else {
                (
                    plan.golden_image_name().map(str::to_string),
                    format!("{} (goldenImageURI)", path.display()),
                )
            };
        golden_images.insert(plan.name.clone(), image.filter(|i| !i.is_empty()));
        golden_image_origin.insert(plan.name.clone(), origin);
    }
    Ok(BundleSource {
        path: path.to_path_buf(),
        name,
        sha256,
        payload_sha256: payload_sha256(&loaded),
        bundle: loaded.bundle,
        golden_images,
        golden_image_origin,
    })
}

/// The sidecar's plan → golden image map (empty when there is none). A sidecar recording another
/// zip's hash (`"sha256"`, written by `build`) is refused: it belongs to another build.
fn read_sidecar(path: &Path, zip_sha256: &str) -> Result<BTreeMap<String, Option<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let json: Value = serde_json::from_str(&text).map_err(|e| {
        Error::at(
            crate::error::Location::file(path).at(e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })?;
    if let Some(recorded) = json.get("sha256").and_then(Value::as_str)
        && !recorded.eq_ignore_ascii_case(zip_sha256)
    {
        return Err(Error::at(
            crate::error::Location::file(path),
            format!(
                "written for another build of the zip (sha256 {recorded}, the zip has \
                 {zip_sha256}); run `i3s-bundle build` again, or delete the sidecar"
            ),
        ));
    }
    let mut out = BTreeMap::new();
    if let Some(plans) = json.get("deploymentPlans").and_then(Value::as_object) {
        for (plan, settings) in plans {
            let image = settings
                .get("goldenImage")
                .and_then(Value::as_str)
                .map(str::to_string);
            out.insert(plan.clone(), image);
        }
    }
    Ok(out)
}

/// SHA-256 of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The tag publish puts in the bundle description so a later run recognises the content.
pub fn content_tag(sha256: &str) -> String {
    format!("[i3s-bundle sha256:{sha256}]")
}

/// The content hash a bundle description carries, if any.
pub fn tagged_sha256(description: &str) -> Option<String> {
    let start = description.find("sha256:")? + "sha256:".len();
    let hex: String = description[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    (hex.len() == 64).then(|| hex.to_ascii_lowercase())
}

/// Two bundles of one run defining the same artifact name differently would overwrite each other
/// on every run (extract replaces by name) and never settle: refuse before any request.
pub fn check_overlaps(sources: &[BundleSource]) -> Result<()> {
    let mut seen: std::collections::HashMap<(&str, String), (String, &Path)> =
        std::collections::HashMap::new();
    let mut problems = Vec::new();
    for source in sources {
        let b = &source.bundle;
        let items = b
            .plan_scripts
            .iter()
            .map(|p| ("plan script", p.name.clone(), p.content.clone()))
            .chain(b.build_plans.iter().map(|p| {
                (
                    "build plan",
                    p.name.clone(),
                    format!(
                        "{:?}{:?}",
                        p.steps
                            .iter()
                            .map(|s| &s.plan_script_name)
                            .collect::<Vec<_>>(),
                        p.custom_attributes
                    ),
                )
            }))
            .chain(b.deployment_plans.iter().map(|p| {
                (
                    "deployment plan",
                    p.name.clone(),
                    format!("{}{:?}", p.build_plan, p.custom_attributes),
                )
            }));
        for (kind, name, fingerprint) in items {
            match seen.get(&(kind, name.clone())) {
                Some((other, path)) if *other != fingerprint => problems.push(format!(
                    "{kind} {name:?} differs between {} and {}",
                    path.display(),
                    source.path.display()
                )),
                Some(_) => {}
                None => {
                    seen.insert((kind, name), (fingerprint, &source.path));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "these bundles overwrite each other's artifacts (publish one of them):\n  {}",
            problems.join("\n  ")
        )))
    }
}
