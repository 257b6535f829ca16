//! Reads a bundle through the zip's central directory, never extracting to disk.
use super::checksum::{ChecksumFile, ChecksumFlavour};
use super::container::{self, ContainerError, SizeLimitExceeded, ZipEntry};
use super::manifest::{Manifest, ManifestQuirks};
use super::{Bundle, EntryKind, GoldenImageEntry, Payload};
use crate::error::{BundleProblem, Error, Location, Result, line_column};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Limits that keep a hostile zip from exhausting memory or disk.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Largest JSON, manifest, checksum or unknown entry (declared or inflated), in bytes.
    pub max_entry_size: u64,
    /// Largest golden image payload, in bytes.
    pub max_payload_size: u64,
    pub max_entries: usize,
    /// Hash golden image payloads (verify needs it; inspect does not).
    pub hash_payloads: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_entry_size: 64 << 20,
            max_payload_size: 4 << 40,
            max_entries: 200_000,
            hash_payloads: true,
        }
    }
}

/// One zip entry as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryRecord {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub compressed_size: u64,
    /// The digest in the bundle's checksum flavour; `None` when not computed (payloads with
    /// `hash_payloads` off, or no checksum file to say which flavour).
    pub digest: Option<String>,
    #[serde(skip)]
    pub zip: ZipEntry,
}

/// A bundle as read, with what reading noticed.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub path: PathBuf,
    pub bundle: Bundle,
    /// Every entry in zip order.
    pub entries: Vec<EntryRecord>,
    /// The checksum files found (the spec allows exactly one).
    pub checksum_files: Vec<ChecksumFile>,
    pub manifest_quirks: ManifestQuirks,
    /// Raw entry bytes of the JSON, manifest and checksum entries (for byte-level comparisons).
    pub raw: Vec<(String, Vec<u8>)>,
    pub warnings: Vec<String>,
}

impl LoadedBundle {
    pub fn raw_entry(&self, name: &str) -> Option<&[u8]> {
        self.raw
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
    pub fn unknown_entries(&self) -> impl Iterator<Item = &EntryRecord> {
        self.entries.iter().filter(|e| e.kind == EntryKind::Unknown)
    }
}

pub fn read_bundle(path: &Path, options: &ReadOptions) -> Result<LoadedBundle> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // Small: every entry starts with a seek, which empties the buffer; large payload reads bypass it.
    read_bundle_from(BufReader::with_capacity(32 * 1024, file), path, options)
}

/// Checks a name against the flat-bundle rules.
fn name_problem(name: &str) -> Option<BundleProblem> {
    if name.ends_with('/') || name.ends_with('\\') {
        Some(BundleProblem::DirectoryEntry)
    } else if name.contains('\\') {
        Some(BundleProblem::Backslash)
    } else if name.starts_with('/') || (name.len() >= 2 && name.as_bytes()[1] == b':') {
        Some(BundleProblem::AbsolutePath)
    } else if name.split('/').any(|part| part == "..") {
        Some(BundleProblem::ParentComponent)
    } else if name.contains('/') {
        Some(BundleProblem::DirectoryPart)
    } else if name.is_empty() {
        Some(BundleProblem::Damaged("has an empty name".into()))
    } else {
        None
    }
}

pub fn read_bundle_from<R: Read + std::io::Seek>(
    mut reader: R,
    path: &Path,
    options: &ReadOptions,
) -> Result<LoadedBundle> {
    let zip_entries = checked_directory(&mut reader, path, options)?;
    let flavours: Vec<ChecksumFlavour> = zip_entries
        .iter()
        .filter_map(|e| ChecksumFlavour::from_file_name(&e.name))
        .collect();
    let flavour = flavours.first().copied();
    let mut loaded = empty_loaded(path, &zip_entries, flavour);
    let mut manifest_seen = false;
    let mut pending_payloads = Vec::new();

    for entry in zip_entries {
        let kind = EntryKind::of(&entry.name);
        if kind == EntryKind::Unknown {
            // Payload or stray file: decided once every golden image JSON has been read.
            pending_payloads.push(entry);
            continue;
        }
        let bytes = read_small(&mut reader, &entry, options.max_entry_size, path)?;
        let digest = flavour.map(|f| digest_of(f, &bytes));
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            Error::bundle(
                Location::entry(path, &entry.name),
                BundleProblem::InvalidUtf8 {
                    offset: e.valid_up_to(),
                },
            )
        })?;
        manifest_seen |= kind == EntryKind::Manifest;
        add_artifact(&mut loaded, path, &entry.name, kind, text)?;
        loaded.raw.push((entry.name.clone(), bytes));
        loaded.entries.push(EntryRecord {
            name: entry.name.clone(),
            kind,
            size: entry.size,
            compressed_size: entry.compressed_size,
            digest,
            zip: entry,
        });
    }
    if !manifest_seen {
        return Err(Error::bundle(
            Location::file(path),
            BundleProblem::MissingManifest,
        ));
    }
    for entry in pending_payloads {
        let record = payload_or_stray(&mut loaded, &mut reader, entry, flavour, options)?;
        loaded.entries.push(record);
    }
    // Keep zip order for reporting.
    loaded.entries.sort_by_key(|e| e.zip.local_header_offset);
    if flavours.len() > 1 {
        loaded.warnings.push(format!(
            "{}: carries both SHA1SUM.sha1sum and SHA256SUM.sha256sum",
            path.display()
        ));
    }
    Ok(loaded)
}

/// The central directory, with every entry name safe and unique.
fn checked_directory<R: Read + std::io::Seek>(
    reader: &mut R,
    path: &Path,
    options: &ReadOptions,
) -> Result<Vec<ZipEntry>> {
    let at = |entry: &str| Location::entry(path, entry);
    let zip_entries =
        container::read_central_directory(reader, options.max_entries).map_err(|e| match e {
            ContainerError::NotAZip(reason) => {
                Error::bundle(Location::file(path), BundleProblem::NotAZip(reason))
            }
            ContainerError::EntryName { index, reason } => Error::bundle(
                at(&format!("#{}", index + 1)),
                BundleProblem::Damaged(reason),
            ),
            ContainerError::Entry { entry, reason } => {
                Error::bundle(at(&entry), BundleProblem::Damaged(reason))
            }
        })?;
    let mut seen = HashSet::new();
    for entry in &zip_entries {
        if let Some(problem) = name_problem(&entry.name) {
            return Err(Error::bundle(at(&entry.name), problem));
        }
        if !seen.insert(entry.name.as_str()) {
            return Err(Error::bundle(at(&entry.name), BundleProblem::DuplicateName));
        }
    }
    Ok(zip_entries)
}

/// An empty bundle sized for the directory's entries.
fn empty_loaded(
    path: &Path,
    zip_entries: &[ZipEntry],
    flavour: Option<ChecksumFlavour>,
) -> LoadedBundle {
    // Exact capacities: grown by doubling, the artifact vectors of a bundle with 100,000 plan
    // scripts held up to twice their size (and both copies while growing).
    let count = |kind: EntryKind| {
        zip_entries
            .iter()
            .filter(|e| EntryKind::of(&e.name) == kind)
            .count()
    };
    LoadedBundle {
        path: path.to_path_buf(),
        bundle: Bundle {
            manifest: Manifest::new("", "", false, String::new()),
            checksum: flavour.unwrap_or_default(),
            plan_scripts: Vec::with_capacity(count(EntryKind::PlanScript)),
            golden_images: Vec::new(),
            build_plans: Vec::with_capacity(count(EntryKind::BuildPlan)),
            deployment_plans: Vec::with_capacity(count(EntryKind::DeploymentPlan)),
        },
        entries: Vec::with_capacity(zip_entries.len()),
        checksum_files: Vec::new(),
        manifest_quirks: ManifestQuirks::default(),
        raw: Vec::with_capacity(zip_entries.len()),
        warnings: Vec::new(),
    }
}

fn digest_of(flavour: ChecksumFlavour, bytes: &[u8]) -> String {
    let mut h = flavour.hasher();
    h.update(bytes);
    h.finish_hex()
}

/// Parses one known entry (manifest, checksum file, artifact JSON) into `loaded`.
fn add_artifact(
    loaded: &mut LoadedBundle,
    path: &Path,
    name: &str,
    kind: EntryKind,
    text: &str,
) -> Result<()> {
    match kind {
        EntryKind::Manifest => {
            let (manifest, quirks) = Manifest::parse(text);
            loaded.bundle.manifest = manifest;
            loaded.manifest_quirks = quirks;
        }
        EntryKind::Checksum => {
            let f = ChecksumFlavour::from_file_name(name).unwrap_or_default();
            loaded.checksum_files.push(ChecksumFile::parse(f, text));
        }
        EntryKind::PlanScript => {
            let script: super::PlanScript = parse_artifact(path, name, kind, text)?;
            check_identity(path, name, kind, &script.kind, &script.id)?;
            loaded.bundle.plan_scripts.push(script);
        }
        EntryKind::GoldenImage => {
            let image: super::GoldenImage = parse_artifact(path, name, kind, text)?;
            check_identity(path, name, kind, &image.kind, &image.id)?;
            loaded.bundle.golden_images.push(GoldenImageEntry {
                image,
                payload: None,
            });
        }
        EntryKind::BuildPlan => {
            let plan: super::BuildPlan = parse_artifact(path, name, kind, text)?;
            check_identity(path, name, kind, &plan.kind, &plan.id)?;
            loaded.bundle.build_plans.push(plan);
        }
        EntryKind::DeploymentPlan => {
            let plan: super::DeploymentPlan = parse_artifact(path, name, kind, text)?;
            check_identity(path, name, kind, &plan.kind, &plan.id)?;
            loaded.bundle.deployment_plans.push(plan);
        }
        EntryKind::Unknown | EntryKind::GoldenImagePayload => unreachable!("handled above"),
    }
    Ok(())
}

/// An entry no name rule knows: a golden image's payload (streamed, never held), or a stray
/// file (read within the entry limit, kept with a warning).
fn payload_or_stray<R: Read + std::io::Seek>(
    loaded: &mut LoadedBundle,
    reader: &mut R,
    entry: ZipEntry,
    flavour: Option<ChecksumFlavour>,
    options: &ReadOptions,
) -> Result<EntryRecord> {
    let path = loaded.path.clone();
    let image = loaded
        .bundle
        .golden_images
        .iter_mut()
        .find(|g| g.image.name == entry.name);
    let (kind, digest) = match image {
        Some(image) => {
            if entry.size > options.max_payload_size {
                return Err(Error::bundle(
                    Location::entry(&path, &entry.name),
                    BundleProblem::TooLarge {
                        size: entry.size,
                        limit: options.max_payload_size,
                        declared: true,
                    },
                ));
            }
            image.payload = Some(Payload::ZipEntry {
                zip: path.clone(),
                entry: entry.name.clone(),
                size: entry.size,
            });
            let digest = match flavour {
                Some(f) if options.hash_payloads => Some(hash_streaming(
                    reader,
                    &entry,
                    options.max_payload_size,
                    f,
                    &path,
                )?),
                _ => None,
            };
            (EntryKind::GoldenImagePayload, digest)
        }
        None => {
            let bytes = read_small(reader, &entry, options.max_entry_size, &path)?;
            loaded.warnings.push(format!(
                "{}: unknown entry {} ({} bytes)",
                path.display(),
                entry.name,
                bytes.len()
            ));
            (EntryKind::Unknown, flavour.map(|f| digest_of(f, &bytes)))
        }
    };
    Ok(EntryRecord {
        name: entry.name.clone(),
        kind,
        size: entry.size,
        compressed_size: entry.compressed_size,
        digest,
        zip: entry,
    })
}

fn read_small<R: Read + std::io::Seek>(
    reader: &mut R,
    entry: &ZipEntry,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    let at = Location::entry(path, &entry.name);
    if entry.size > limit {
        return Err(Error::bundle(
            at,
            BundleProblem::TooLarge {
                size: entry.size,
                limit,
                declared: true,
            },
        ));
    }
    let mut stream = container::open_entry(reader, entry, limit)
        .map_err(|e| Error::bundle(at.clone(), BundleProblem::Damaged(e.to_string())))?;
    let mut bytes = Vec::with_capacity(entry.size.min(limit) as usize);
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| entry_read_error(at, e))?;
    Ok(bytes)
}

fn entry_read_error(at: Location, e: std::io::Error) -> Error {
    if let Some(limit) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SizeLimitExceeded>())
    {
        return Error::bundle(
            at,
            BundleProblem::TooLarge {
                size: limit.limit + 1,
                limit: limit.limit,
                declared: false,
            },
        );
    }
    Error::bundle(
        at,
        BundleProblem::Damaged(format!("cannot be inflated: {e}")),
    )
}

/// Hashes an entry in a pipeline: this thread inflates, a second one hashes, so that the
/// two halves of the work use both cores on a multi-gigabyte payload.
fn hash_streaming<R: Read + std::io::Seek>(
    reader: &mut R,
    entry: &ZipEntry,
    limit: u64,
    flavour: ChecksumFlavour,
    path: &Path,
) -> Result<String> {
    let at = Location::entry(path, &entry.name);
    let mut stream = container::open_entry(reader, entry, limit)
        .map_err(|e| Error::bundle(at.clone(), BundleProblem::Damaged(e.to_string())))?;
    const CHUNK: usize = 1 << 20;
    let (to_hasher, from_reader) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
    let hasher = std::thread::spawn(move || {
        let mut h = flavour.hasher();
        for chunk in from_reader {
            h.update(&chunk);
            let _ = recycle.send(chunk);
        }
        h.finish_hex()
    });
    let mut result = Ok(());
    loop {
        let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match stream.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(entry_read_error(at.clone(), e));
                    break;
                }
            }
        }
        if filled == 0 || result.is_err() {
            break;
        }
        buf.truncate(filled);
        if to_hasher.send(buf).is_err() {
            break;
        }
    }
    drop(to_hasher);
    let digest = hasher
        .join()
        .map_err(|_| Error::other("the hashing thread panicked"))?;
    result.map(|()| digest)
}

fn parse_artifact<T: DeserializeOwned>(
    path: &Path,
    name: &str,
    kind: EntryKind,
    text: &str,
) -> Result<T> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::bundle(
            Location::entry(path, name).at(e.line(), e.column()),
            BundleProblem::MalformedJson {
                message: e.to_string(),
            },
        )
    })?;
    if !value.is_object() {
        return Err(Error::bundle(
            Location::entry(path, name),
            BundleProblem::BadObject {
                message: "not a JSON object".into(),
            },
        ));
    }
    let expected = EntryKind::ARTIFACTS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, kinds)| *kinds)
        .unwrap_or(&[]);
    let found = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if !expected.contains(&found) {
        return Err(Error::bundle(
            Location::entry(path, name),
            BundleProblem::TypeMismatch {
                expected: expected.join(" or "),
                found: found.to_string(),
            },
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        let (line, column) = line_column(text, 0);
        Error::bundle(
            Location::entry(path, name).at(line, column),
            BundleProblem::BadObject {
                message: e.to_string(),
            },
        )
    })
}

fn check_identity(
    path: &Path,
    name: &str,
    kind: EntryKind,
    found_type: &str,
    id: &str,
) -> Result<()> {
    let suffix = EntryKind::ARTIFACTS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, s, _)| *s)
        .unwrap_or("");
    let file_id = name.strip_suffix(suffix).unwrap_or(name);
    let _ = found_type;
    if file_id != id {
        return Err(Error::bundle(
            Location::entry(path, name),
            BundleProblem::IdMismatch {
                file_id: file_id.to_string(),
                json_id: id.to_string(),
            },
        ));
    }
    Ok(())
}
