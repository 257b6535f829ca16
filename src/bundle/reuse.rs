//! The previous build of a zip, for an incremental build to copy from: the artifact entries'
//! uncompressed bytes and their Deflate streams. An entry whose new bytes equal the old ones is
//! copied compressed ([`super::container::ZipWriter::add_compressed`]) instead of compressed again;
//! the writer is deterministic, so the zip's bytes are those of a clean build.
use super::container::{METHOD_DEFLATE, ZipEntry, open_entry, read_central_directory};
use super::{ChecksumFile, ChecksumFlavour, EntryKind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::ops::Range;
use std::path::Path;

/// Larger zips (they carry golden images) are not reused: they are read whole.
const MAX_REUSED_ZIP: u64 = 256 * 1024 * 1024;

/// One artifact entry of the previous zip.
struct OldEntry {
    /// Its Deflate stream within [`PreviousZip::bytes`].
    data: Range<usize>,
    crc32: u32,
    content: Vec<u8>,
}

/// The previous zip, checked against the SHA-256 its build recorded.
pub struct PreviousZip {
    bytes: Vec<u8>,
    entries: HashMap<String, OldEntry>,
    /// Its checksum file's digests, by entry name (a copied entry's digest is the same).
    digests: HashMap<String, String>,
    checksum_name: String,
}

impl PreviousZip {
    /// The zip at `path` if its SHA-256 is `sha256` and every artifact entry inflates with its
    /// CRC; `None` otherwise (a zip edited, truncated or replaced since: no reuse, a full build).
    pub fn load(path: &Path, sha256: &str) -> Option<PreviousZip> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.len() > MAX_REUSED_ZIP {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return None;
        }
        let directory = read_central_directory(&mut Cursor::new(&bytes), usize::MAX).ok()?;
        let mut entries = HashMap::with_capacity(directory.len());
        let (mut digests, mut checksum_name) = (HashMap::new(), String::new());
        for entry in &directory {
            if let Some(flavour) = ChecksumFlavour::from_file_name(&entry.name) {
                let text = String::from_utf8(old_entry(&bytes, entry)?.content).ok()?;
                let file = ChecksumFile::parse(flavour, &text);
                digests = file
                    .lines
                    .into_iter()
                    .map(|l| (l.entry, l.digest))
                    .collect();
                checksum_name = entry.name.clone();
                continue;
            }
            let reusable = matches!(
                EntryKind::of(&entry.name),
                EntryKind::PlanScript | EntryKind::BuildPlan | EntryKind::DeploymentPlan
            );
            if reusable {
                entries.insert(entry.name.clone(), old_entry(&bytes, entry)?);
            }
        }
        Some(PreviousZip {
            bytes,
            entries,
            digests,
            checksum_name,
        })
    }

    /// The uncompressed bytes of an artifact entry.
    pub fn content(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|e| e.content.as_slice())
    }

    /// The Deflate stream and CRC-32 of entry `name` when its bytes are `bytes`.
    pub fn reusable(&self, name: &str, bytes: &[u8]) -> Option<(&[u8], u32)> {
        let entry = self.entries.get(name)?;
        (entry.content == bytes).then(|| (&self.bytes[entry.data.clone()], entry.crc32))
    }

    /// The digest the previous zip's checksum file (of this flavour) gives entry `name`.
    pub fn digest(&self, flavour: ChecksumFlavour, name: &str) -> Option<&str> {
        if self.checksum_name != flavour.file_name() {
            return None;
        }
        self.digests.get(name).map(String::as_str)
    }
}

/// Inflates one entry (CRC and size checked) and finds its Deflate stream.
fn old_entry(bytes: &[u8], entry: &ZipEntry) -> Option<OldEntry> {
    if entry.method != METHOD_DEFLATE || entry.has_extra_fields {
        return None;
    }
    let at = usize::try_from(entry.local_header_offset).ok()?;
    let local = bytes.get(at..at.checked_add(30)?)?;
    let name_len = usize::from(u16::from_le_bytes([local[26], local[27]]));
    let extra_len = usize::from(u16::from_le_bytes([local[28], local[29]]));
    let start = at + 30 + name_len + extra_len;
    let end = start.checked_add(usize::try_from(entry.compressed_size).ok()?)?;
    if extra_len != 0 || end > bytes.len() {
        return None;
    }
    let mut cursor = Cursor::new(bytes);
    let mut reader = open_entry(&mut cursor, entry, entry.size).ok()?;
    let mut content = Vec::with_capacity(usize::try_from(entry.size).ok()?);
    reader.read_to_end(&mut content).ok()?;
    Some(OldEntry {
        data: start..end,
        crc32: entry.crc32,
        content,
    })
}
