//! `golden-image pack`: the golden image payload the appliance takes — a zip holding exactly one
//! entry, the raw disk image (named by a uuid). Streamed: a multi-gigabyte image never sits in
//! memory. A qcow2 image is converted to raw first (into a sparse temporary file).
//!
//! Reproducible: the same image packs to the same bytes (so a re-pack uploads as "unchanged").
//! The entry's time stamp is `SOURCE_DATE_EPOCH` when set, else [`FIXED_TIME`] (1980-01-01
//! 00:00:00 UTC, the zip epoch) — never the clock nor the image's mtime; the entry name is a
//! uuid v5 of the golden image name.
use crate::bundle::container::ZipWriter;
use crate::error::{Error, Result};
use crate::guestfish::driver::DiskFormat;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What `pack` wrote.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct PackReport {
    pub out: PathBuf,
    /// The entry name inside the payload zip.
    pub entry: String,
    /// Bytes of the raw disk image.
    pub image_size: u64,
    /// sha256 of the raw disk image.
    pub image_sha256: String,
    /// Bytes and sha256 of the payload zip itself (what a bundle's checksum file lists).
    pub payload_size: u64,
    pub payload_sha256: String,
}

/// The entry time stamp without `SOURCE_DATE_EPOCH`: the earliest a zip can express.
pub const FIXED_TIME: time::OffsetDateTime = time::macros::datetime!(1980-01-01 00:00:00 UTC);

/// The time stamp of the payload's entry (see the module docs).
pub fn entry_time() -> Result<time::OffsetDateTime> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => crate::bundle::manifest::source_date_epoch(&value),
        _ => Ok(FIXED_TIME),
    }
}

/// Namespace for payload entry uuids (uuid v5 over the golden image name).
const PAYLOAD_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5d1f_2b7e_9c3a_4e61_8b0d_7a2c_e4f9_1306);

/// Counts and hashes what passes through to the file.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Packs `image` (raw or qcow2) as the payload of golden image `name` into `out`
/// (written to a temporary file next to it, renamed into place when complete).
pub fn pack(image: &Path, name: &str, out: &Path) -> Result<PackReport> {
    if name.trim().is_empty() {
        return Err(Error::Usage("--name must not be empty".to_string()));
    }
    let time_stamp = entry_time()?;
    let converted;
    let raw: &Path = match DiskFormat::detect(image)? {
        DiskFormat::Raw => image,
        DiskFormat::Qcow2 => {
            // Named after the output so that a leftover says whose it was.
            let mut raw_name = out.file_name().unwrap_or_default().to_os_string();
            raw_name.push(".raw");
            converted = crate::fs::TempFile::for_target(&out.with_file_name(raw_name))?;
            let status = std::process::Command::new("qemu-img")
                .args(["convert", "-q", "-O", "raw"])
                .arg(image)
                .arg(converted.path())
                .status()
                .map_err(|e| {
                    Error::other(format!("cannot run qemu-img: {e} (install qemu-utils)"))
                })?;
            if !status.success() {
                return Err(Error::other(format!(
                    "qemu-img convert {} to raw failed",
                    image.display()
                )));
            }
            converted.path()
        }
    };
    let source = File::open(raw).map_err(|e| Error::io(raw, e))?;
    let size = source.metadata().map_err(|e| Error::io(raw, e))?.len();
    let entry = uuid::Uuid::new_v5(&PAYLOAD_NAMESPACE, name.as_bytes()).to_string();
    let temp = crate::fs::TempFile::for_target(out)?;
    let file = temp.reopen()?;
    let counting = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
    };
    let mut zip = ZipWriter::new(counting, time_stamp);
    let mut image_hasher = Sha256::new();
    let mut reader = BufReader::with_capacity(1 << 20, source);
    let image_size = zip
        .add_entry(&entry, &mut reader, Some(size), &mut |chunk| {
            image_hasher.update(chunk)
        })
        .map_err(|e| Error::io(raw, e))?;
    let mut written = zip.finish().map_err(|e| Error::io(temp.path(), e))?;
    written.flush().map_err(|e| Error::io(temp.path(), e))?;
    let payload_size = written.written;
    let HashingWriter { inner, hasher, .. } = written;
    let payload_sha256 = hex::encode(hasher.finalize());
    drop(
        inner
            .into_inner()
            .map_err(|e| Error::io(temp.path(), e.into_error()))?,
    );
    temp.persist(out)?;
    Ok(PackReport {
        out: out.to_path_buf(),
        entry,
        image_size,
        image_sha256: hex::encode(image_hasher.finalize()),
        payload_size,
        payload_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_one_entry_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mut data = vec![0u8; 3 << 20];
        data[1000..1010].copy_from_slice(b"bootsector");
        std::fs::write(&image, &data).unwrap();
        let out = dir.path().join("CentOS 7.4 Golden Image");
        let report = pack(&image, "CentOS 7.4 Golden Image", &out).unwrap();
        assert_eq!(report.image_size, data.len() as u64);
        assert_eq!(report.image_sha256, hex::encode(Sha256::digest(&data)));
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(report.payload_sha256, hex::encode(Sha256::digest(&bytes)));
        let mut reader = std::io::Cursor::new(bytes);
        let entries = crate::bundle::container::read_central_directory(&mut reader, 10).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, report.entry);
        assert_eq!(entries[0].size, data.len() as u64);
    }
}
