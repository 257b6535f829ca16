//! Writes the canonical (appliance) form: entries in kind order, compact JSON, one timestamp,
//! MANIFEST without final newline, checksum file last. Same model, same bytes.
use super::checksum::ChecksumFile;
use super::container::{ZipWriter, deflate_entry};
use super::manifest::{MANIFEST_ENTRY, parse_time_stamp};
use super::reuse::PreviousZip;
use super::{Bundle, EntryKind, Payload};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a write produced.
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub entries: usize,
}

/// Writes `bundle` to `path` atomically: a temporary file in the same directory, renamed over
/// the target only when complete, so an error never leaves a partial zip nor destroys the old one.
pub fn write_bundle(bundle: &Bundle, path: &Path) -> Result<WriteReport> {
    let (temp, report) = write_bundle_unpersisted(bundle, path)?;
    temp.persist(path)?;
    Ok(report)
}

/// [`write_bundle`] up to the rename: the complete zip in a temporary file next to `path` (0644,
/// synced), removed if dropped, renamed over `path` by [`crate::fs::TempFile::persist`]. A build
/// writes each bundle as soon as it is compiled (and drops it) yet replaces no output until every
/// bundle has compiled.
pub fn write_bundle_unpersisted(
    bundle: &Bundle,
    path: &Path,
) -> Result<(crate::fs::TempFile, WriteReport)> {
    write_bundle_reusing(bundle, path, None)
}

/// [`write_bundle_unpersisted`], copying the Deflate stream of every artifact entry whose bytes
/// equal the one in `previous` (the same bytes a fresh compression gives, in less time).
pub fn write_bundle_reusing(
    bundle: &Bundle,
    path: &Path,
    previous: Option<&PreviousZip>,
) -> Result<(crate::fs::TempFile, WriteReport)> {
    let temp = crate::fs::TempFile::for_target(path)?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(temp.path(), e))?;
    let hashing = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: sha2::Sha256::default(),
        size: 0,
    };
    let (hashing, entries) = write_entries(bundle, hashing, previous)?;
    let HashingWriter {
        inner,
        hasher,
        size,
    } = hashing;
    drop(
        inner
            .into_inner()
            .map_err(|e| Error::io(temp.path(), e.into_error()))?,
    );
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io(temp.path(), e))?;
    crate::fs::set_mode_644(temp.path())?;
    use sha2::Digest;
    let report = WriteReport {
        path: path.to_path_buf(),
        size,
        sha256: hex::encode(hasher.finalize()),
        entries,
    };
    Ok((temp, report))
}

struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}
impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The JSON text of one artifact as the writer emits it.
pub fn artifact_json<T: Serialize>(artifact: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(artifact)
        .map_err(|e| Error::other(format!("cannot serialize an artifact: {e}")))
}

/// Streams the canonical zip into `out`; returns it with the number of entries.
pub fn write_bundle_to<W: Write>(bundle: &Bundle, out: W) -> Result<(W, usize)> {
    write_entries(bundle, out, None)
}

fn write_entries<W: Write>(
    bundle: &Bundle,
    out: W,
    previous: Option<&PreviousZip>,
) -> Result<(W, usize)> {
    let stamp = &bundle.manifest.time_stamp;
    let time = parse_time_stamp(stamp)
        .ok_or_else(|| Error::other(format!("MANIFEST Time Stamp {stamp:?} is not an ISO-8601 UTC time such as 2018-06-09T15:09:48.084Z")))?;
    let mut zip = Entries {
        zip: ZipWriter::new(out, time),
        flavour: bundle.checksum,
        sums: Vec::new(),
        previous,
    };
    let name_of = |kind: EntryKind, id: &str| kind.entry_name(id).unwrap_or_default();
    // Serialized and deflated on every core first; written in order below.
    let flavour = bundle.checksum;
    let scripts = prepare(flavour, previous, &bundle.plan_scripts, |s| {
        name_of(EntryKind::PlanScript, &s.id)
    })?;
    let build_plans = prepare(flavour, previous, &bundle.build_plans, |p| {
        name_of(EntryKind::BuildPlan, &p.id)
    })?;
    let deployment_plans = prepare(flavour, previous, &bundle.deployment_plans, |p| {
        name_of(EntryKind::DeploymentPlan, &p.id)
    })?;

    zip.add_prepared(scripts)?;
    for golden in &bundle.golden_images {
        zip.add_bytes(
            name_of(EntryKind::GoldenImage, &golden.image.id),
            &artifact_json(&golden.image)?,
        )?;
        if let Some(payload) = &golden.payload {
            let mut hasher = zip.flavour.hasher();
            copy_payload(&mut zip.zip, &golden.image.name, payload, &mut |chunk| {
                hasher.update(chunk)
            })?;
            zip.sums
                .push((golden.image.name.clone(), hasher.finish_hex()));
        }
    }
    zip.add_prepared(build_plans)?;
    zip.add_prepared(deployment_plans)?;
    zip.add_bytes(
        MANIFEST_ENTRY.to_string(),
        bundle.manifest.render().as_bytes(),
    )?;
    let checksum_text =
        ChecksumFile::render(zip.sums.iter().map(|(n, d)| (n.as_str(), d.as_str())));
    let checksum_name = zip.flavour.file_name();
    zip.zip
        .add_entry(
            checksum_name,
            &mut checksum_text.as_bytes(),
            Some(checksum_text.len() as u64),
            &mut |_| {},
        )
        .map_err(|e| entry_error(checksum_name, e))?;
    let entries = zip.sums.len() + 1;
    let out = zip
        .zip
        .finish()
        .map_err(|e| Error::other(format!("finishing the zip: {e}")))?;
    Ok((out, entries))
}

/// The zip being written and the checksum lines collected so far, in entry order.
struct Entries<'p, W: Write> {
    zip: ZipWriter<W>,
    flavour: super::ChecksumFlavour,
    sums: Vec<(String, String)>,
    previous: Option<&'p PreviousZip>,
}

/// An artifact entry ready to write: its name, checksum line digest and Deflate stream (made
/// now, or copied from the previous zip when its bytes are unchanged).
struct Prepared<'p> {
    name: String,
    digest: String,
    compressed: Cow<'p, [u8]>,
    crc32: u32,
    size: u64,
}

/// Serializes, hashes and deflates `artifacts` in parallel (rayon), in their order.
fn prepare<'p, T: Serialize + Sync>(
    flavour: super::ChecksumFlavour,
    previous: Option<&'p PreviousZip>,
    artifacts: &[T],
    name: impl Fn(&T) -> String + Sync,
) -> Result<Vec<Prepared<'p>>> {
    artifacts
        .par_iter()
        .map(|artifact| {
            let name = name(artifact);
            let json = artifact_json(artifact)?;
            if let Some(reused) = previous.and_then(|p| reused(p, flavour, &name, &json)) {
                return Ok(reused);
            }
            let mut hasher = flavour.hasher();
            let (compressed, crc32, size) = deflate_entry(&json, &mut |chunk| hasher.update(chunk))
                .map_err(|e| entry_error(&name, e))?
                .into_parts();
            Ok(Prepared {
                digest: hasher.finish_hex(),
                name,
                compressed: Cow::Owned(compressed),
                crc32,
                size,
            })
        })
        .collect()
}

/// The previous zip's entry `name` when it holds exactly `bytes`, with its checksum digest.
fn reused<'p>(
    previous: &'p PreviousZip,
    flavour: super::ChecksumFlavour,
    name: &str,
    bytes: &[u8],
) -> Option<Prepared<'p>> {
    let (compressed, crc32) = previous.reusable(name, bytes)?;
    let digest = match previous.digest(flavour, name) {
        Some(digest) => digest.to_string(),
        None => {
            let mut hasher = flavour.hasher();
            hasher.update(bytes);
            hasher.finish_hex()
        }
    };
    Some(Prepared {
        name: name.to_string(),
        digest,
        compressed: Cow::Borrowed(compressed),
        crc32,
        size: bytes.len() as u64,
    })
}

impl<'p, W: Write> Entries<'p, W> {
    fn add_prepared(&mut self, prepared: Vec<Prepared<'p>>) -> Result<()> {
        for p in prepared {
            self.zip
                .add_compressed(&p.name, &p.compressed, p.crc32, p.size)
                .map_err(|e| entry_error(&p.name, e))?;
            self.sums.push((p.name, p.digest));
        }
        Ok(())
    }

    fn add_bytes(&mut self, name: String, bytes: &[u8]) -> Result<()> {
        if let Some(reused) = self
            .previous
            .and_then(|p| reused(p, self.flavour, &name, bytes))
        {
            return self.add_prepared(vec![reused]);
        }
        let mut hasher = self.flavour.hasher();
        self.zip
            .add_entry(
                &name,
                &mut &bytes[..],
                Some(bytes.len() as u64),
                &mut |chunk| hasher.update(chunk),
            )
            .map_err(|e| entry_error(&name, e))?;
        self.sums.push((name, hasher.finish_hex()));
        Ok(())
    }
}

fn entry_error(name: &str, e: std::io::Error) -> Error {
    Error::other(format!("writing entry {name}: {e}"))
}

fn copy_payload<W: Write>(
    zip: &mut ZipWriter<W>,
    name: &str,
    payload: &Payload,
    observe: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    match payload {
        Payload::File(file) => {
            let size = std::fs::metadata(file)
                .map_err(|e| Error::io(file, e))?
                .len();
            let mut source = File::open(file).map_err(|e| Error::io(file, e))?;
            zip.add_precompressed_entry(name, &mut source, Some(size), observe)
                .map_err(|e| Error::io(file, e))?;
        }
        Payload::ZipEntry {
            zip: source_zip,
            entry,
            size,
        } => {
            let mut reader = std::io::BufReader::new(
                File::open(source_zip).map_err(|e| Error::io(source_zip, e))?,
            );
            let entries = super::container::read_central_directory(&mut reader, usize::MAX)
                .map_err(|e| Error::other(format!("{}: {e}", source_zip.display())))?;
            let record = entries.iter().find(|e| &e.name == entry).ok_or_else(|| {
                Error::other(format!(
                    "{}: payload entry {entry} is gone",
                    source_zip.display()
                ))
            })?;
            let mut stream = super::container::open_entry(&mut reader, record, u64::MAX)
                .map_err(|e| Error::other(format!("{}: {e}", source_zip.display())))?;
            zip.add_precompressed_entry(name, &mut stream, Some(*size), observe)
                .map_err(|e| Error::io(source_zip, e))?;
        }
    }
    Ok(())
}
