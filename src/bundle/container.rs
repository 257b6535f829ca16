//! The zip container, read through its central directory and written in the appliance's form.
//!
//! Hand-written on purpose: the reader must name the offending entry for every malformation
//! (duplicates, bombs, bad names) and never panic on hostile input, and the writer must produce
//! the appliance's exact layout (MS-DOS host, version 20, data descriptors, no extra fields) while
//! streaming multi-gigabyte payloads — neither of which the `zip` crate's API lets us control.
//! Deflate itself comes from `flate2`; the tests read our output back with the `zip` crate,
//! `unzip -t` and Python's `zipfile`.
use std::io::{self, Read, Seek, SeekFrom, Write};

const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const DATA_DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;
pub const METHOD_STORED: u16 = 0;
pub const METHOD_DEFLATE: u16 = 8;
/// Flags the appliance sets: bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
pub const APPLIANCE_FLAGS: u16 = 0x0808;

/// What went wrong at the container level; `read` turns it into an error naming the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerError {
    NotAZip(String),
    EntryName { index: usize, reason: String },
    Entry { entry: String, reason: String },
}

impl std::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerError::NotAZip(reason) => write!(f, "not a readable zip archive: {reason}"),
            ContainerError::EntryName { index, reason } => {
                write!(f, "entry #{}: {reason}", index + 1)
            }
            ContainerError::Entry { entry, reason } => write!(f, "entry {entry}: {reason}"),
        }
    }
}

/// One central directory record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub local_header_offset: u64,
    pub version_made_by: u16,
    pub dos_time: u16,
    pub dos_date: u16,
    pub external_attributes: u32,
    pub has_extra_fields: bool,
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

fn not_zip(reason: impl Into<String>) -> ContainerError {
    ContainerError::NotAZip(reason.into())
}

/// Reads the central directory. Names must be UTF-8; everything else is checked by the caller.
pub fn read_central_directory<R: Read + Seek>(
    reader: &mut R,
    max_entries: usize,
) -> Result<Vec<ZipEntry>, ContainerError> {
    let io = |e: io::Error| not_zip(e.to_string());
    let file_len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    let (count, cd_size, cd_offset) = find_directory(reader, file_len)?;
    if cd_offset.checked_add(cd_size).is_none_or(|e| e > file_len) {
        return Err(not_zip("the central directory lies outside the file"));
    }
    if count > max_entries as u64 {
        return Err(not_zip(format!(
            "{count} entries exceed the limit of {max_entries}"
        )));
    }
    // Each record is at least 46 bytes, so the size bounds the allocation.
    if count.saturating_mul(46) > cd_size {
        return Err(not_zip(format!(
            "the central directory is too small for {count} entries"
        )));
    }
    reader.seek(SeekFrom::Start(cd_offset)).map_err(io)?;
    let mut cd = vec![0u8; cd_size as usize];
    reader.read_exact(&mut cd).map_err(io)?;
    let mut entries = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for index in 0..count as usize {
        let (entry, record_len) = parse_central_record(&cd, at, index)?;
        entries.push(entry);
        at += record_len;
    }
    Ok(entries)
}

/// Finds the end-of-central-directory record (and its zip64 form when the
/// classic fields overflow): the entry count, directory size and offset.
fn find_directory<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
) -> Result<(u64, u64, u64), ContainerError> {
    let io = |e: io::Error| not_zip(e.to_string());
    if file_len < 22 {
        return Err(not_zip("the file is too short to be a zip archive"));
    }
    let tail_len = file_len.min(22 + 65_535 + 20);
    reader
        .seek(SeekFrom::Start(file_len - tail_len))
        .map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail).map_err(io)?;
    let end_at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| u32_at(&tail, i) == Some(END_SIG))
        .ok_or_else(|| not_zip("no end-of-central-directory record"))?;
    let end = &tail[end_at..];
    let count = u64::from(u16_at(end, 10).unwrap_or(0));
    let cd_size = u64::from(u32_at(end, 12).unwrap_or(0));
    let cd_offset = u64::from(u32_at(end, 16).unwrap_or(0));
    if (count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF) && end_at >= 20 {
        let locator = &tail[end_at - 20..end_at];
        if u32_at(locator, 0) == Some(ZIP64_LOCATOR_SIG) {
            return read_zip64_end(reader, locator, file_len);
        }
    }
    Ok((count, cd_size, cd_offset))
}

/// Reads the zip64 end record the locator points at.
fn read_zip64_end<R: Read + Seek>(
    reader: &mut R,
    locator: &[u8],
    file_len: u64,
) -> Result<(u64, u64, u64), ContainerError> {
    let io = |e: io::Error| not_zip(e.to_string());
    let zip64_end_offset = u64_at(locator, 8).unwrap_or(u64::MAX);
    if zip64_end_offset
        .checked_add(56)
        .is_none_or(|e| e > file_len)
    {
        return Err(not_zip("zip64 end record points outside the file"));
    }
    reader.seek(SeekFrom::Start(zip64_end_offset)).map_err(io)?;
    let mut record = [0u8; 56];
    reader.read_exact(&mut record).map_err(io)?;
    if u32_at(&record, 0) != Some(ZIP64_END_SIG) {
        return Err(not_zip("bad zip64 end-of-central-directory record"));
    }
    Ok((
        u64_at(&record, 32).unwrap_or(0),
        u64_at(&record, 40).unwrap_or(0),
        u64_at(&record, 48).unwrap_or(0),
    ))
}

/// Parses the central directory record #`index` starting at `at`: the entry
/// and the record's length.
fn parse_central_record(
    cd: &[u8],
    at: usize,
    index: usize,
) -> Result<(ZipEntry, usize), ContainerError> {
    let bad = |reason: &str| ContainerError::EntryName {
        index,
        reason: reason.to_string(),
    };
    if u32_at(cd, at) != Some(CENTRAL_HEADER_SIG) {
        return Err(not_zip(format!(
            "central directory record #{} is damaged",
            index + 1
        )));
    }
    let header = cd
        .get(at..at + 46)
        .ok_or_else(|| bad("truncated central directory record"))?;
    let name_len = usize::from(u16_at(header, 28).unwrap_or(0));
    let extra_len = usize::from(u16_at(header, 30).unwrap_or(0));
    let comment_len = usize::from(u16_at(header, 32).unwrap_or(0));
    let name_bytes = cd
        .get(at + 46..at + 46 + name_len)
        .ok_or_else(|| bad("truncated entry name"))?;
    let extra = cd
        .get(at + 46 + name_len..at + 46 + name_len + extra_len)
        .ok_or_else(|| bad("truncated extra field"))?;
    let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| {
        bad(&format!(
            "the entry name {:?} is not valid UTF-8",
            String::from_utf8_lossy(name_bytes)
        ))
    })?;
    let mut entry = ZipEntry {
        name,
        version_made_by: u16_at(header, 4).unwrap_or(0),
        flags: u16_at(header, 8).unwrap_or(0),
        method: u16_at(header, 10).unwrap_or(0),
        dos_time: u16_at(header, 12).unwrap_or(0),
        dos_date: u16_at(header, 14).unwrap_or(0),
        crc32: u32_at(header, 16).unwrap_or(0),
        compressed_size: u64::from(u32_at(header, 20).unwrap_or(0)),
        size: u64::from(u32_at(header, 24).unwrap_or(0)),
        external_attributes: u32_at(header, 38).unwrap_or(0),
        local_header_offset: u64::from(u32_at(header, 42).unwrap_or(0)),
        has_extra_fields: extra_len > 0,
    };
    apply_zip64_extra(&mut entry, extra);
    Ok((entry, 46 + name_len + extra_len + comment_len))
}

fn apply_zip64_extra(entry: &mut ZipEntry, mut extra: &[u8]) {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0).unwrap_or(0);
        let len = usize::from(u16_at(extra, 2).unwrap_or(0));
        let Some(body) = extra.get(4..4 + len) else {
            return;
        };
        if id == ZIP64_EXTRA_ID {
            let mut at = 0;
            for field in [
                &mut entry.size,
                &mut entry.compressed_size,
                &mut entry.local_header_offset,
            ] {
                if *field == 0xFFFF_FFFF {
                    match u64_at(body, at) {
                        Some(value) => *field = value,
                        None => return,
                    }
                    at += 8;
                }
            }
        }
        extra = &extra[4 + len..];
    }
}

/// Opens an entry's data: inflated, limited to `limit` bytes (more is an error), CRC checked at
/// the end. The caller reads it like any `Read`.
pub fn open_entry<'a, R: Read + Seek>(
    reader: &'a mut R,
    entry: &ZipEntry,
    limit: u64,
) -> Result<EntryReader<'a, R>, ContainerError> {
    let fail = |reason: String| ContainerError::Entry {
        entry: entry.name.clone(),
        reason,
    };
    reader
        .seek(SeekFrom::Start(entry.local_header_offset))
        .map_err(|e| fail(e.to_string()))?;
    let mut local = [0u8; 30];
    reader
        .read_exact(&mut local)
        .map_err(|_| fail("the local header lies outside the file".into()))?;
    if u32_at(&local, 0) != Some(LOCAL_HEADER_SIG) {
        return Err(fail("the local header is damaged".into()));
    }
    let skip =
        i64::from(u16_at(&local, 26).unwrap_or(0)) + i64::from(u16_at(&local, 28).unwrap_or(0));
    reader
        .seek(SeekFrom::Current(skip))
        .map_err(|e| fail(e.to_string()))?;
    let raw = (reader as &mut dyn ReadSeek).take(entry.compressed_size);
    let inner: Box<dyn Read + 'a> = match entry.method {
        METHOD_STORED => Box::new(raw),
        METHOD_DEFLATE => Box::new(Inflater {
            raw,
            state: Some(take_inflater()),
            at: 0,
            end: 0,
            eof: false,
        }),
        other => {
            return Err(fail(format!(
                "unsupported compression method {other} (only stored and deflate occur in bundles)"
            )));
        }
    };
    Ok(EntryReader {
        inner,
        name: entry.name.clone(),
        expected_crc: entry.crc32,
        expected_size: entry.size,
        limit,
        read: 0,
        crc: crc32fast::Hasher::new(),
        _reader: std::marker::PhantomData,
    })
}

/// Inflates one entry with a state (and input buffer) taken from a per-thread pool and given back
/// when done: a fresh inflater per entry, freed right after, left the allocator fragmented —
/// reading 120,000 small entries peaked at 870 MiB instead of 480.
struct Inflater<R: Read> {
    raw: R,
    state: Option<(flate2::Decompress, Vec<u8>)>,
    /// Unconsumed input is `state.1[at..end]`.
    at: usize,
    end: usize,
    eof: bool,
}

thread_local! {
    static INFLATERS: std::cell::RefCell<Vec<(flate2::Decompress, Vec<u8>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn take_inflater() -> (flate2::Decompress, Vec<u8>) {
    INFLATERS
        .with(|pool| pool.borrow_mut().pop())
        // Raw Deflate (no zlib header), as zip entries hold it.
        .unwrap_or_else(|| (flate2::Decompress::new(false), vec![0; 64 * 1024]))
}

impl<R: Read> Drop for Inflater<R> {
    fn drop(&mut self) {
        if let Some((mut state, buf)) = self.state.take() {
            state.reset(false);
            INFLATERS.with(|pool| {
                let mut pool = pool.borrow_mut();
                // Entries are read one (or, comparing, two) at a time: a few states suffice.
                if pool.len() < 4 {
                    pool.push((state, buf));
                }
            });
        }
    }
}

impl<R: Read> Read for Inflater<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let Some((state, input)) = self.state.as_mut() else {
            return Ok(0);
        };
        loop {
            if self.at == self.end && !self.eof {
                self.end = self.raw.read(input)?;
                self.at = 0;
                self.eof = self.end == 0;
            }
            let (in_before, out_before) = (state.total_in(), state.total_out());
            let status = state
                .decompress(
                    &input[self.at..self.end],
                    out,
                    flate2::FlushDecompress::None,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.at += (state.total_in() - in_before) as usize;
            let produced = (state.total_out() - out_before) as usize;
            if produced > 0 || status == flate2::Status::StreamEnd {
                return Ok(produced);
            }
            // No progress with all input read: a truncated stream (the size check reports it).
            if self.eof && self.at == self.end {
                return Ok(0);
            }
        }
    }
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

pub struct EntryReader<'a, R> {
    inner: Box<dyn Read + 'a>,
    name: String,
    expected_crc: u32,
    expected_size: u64,
    limit: u64,
    read: u64,
    crc: crc32fast::Hasher,
    _reader: std::marker::PhantomData<&'a mut R>,
}

/// The marker inside an `io::Error` that says the inflated size passed the limit.
#[derive(Debug)]
pub struct SizeLimitExceeded {
    pub limit: u64,
}
impl std::fmt::Display for SizeLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inflates to more than the limit of {} bytes", self.limit)
    }
}
impl std::error::Error for SizeLimitExceeded {}

impl<R> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(SizeLimitExceeded { limit: self.limit }));
        }
        self.crc.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            if self.read != self.expected_size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: inflated to {} bytes, the directory says {}",
                        self.name, self.read, self.expected_size
                    ),
                ));
            }
            let crc = self.crc.clone().finalize();
            if crc != self.expected_crc {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: CRC-32 {crc:08x} does not match {:08x}",
                        self.name, self.expected_crc
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// DOS date and time words for a UTC instant (2-second resolution, years 1980..2107).
pub fn dos_date_time(at: time::OffsetDateTime) -> (u16, u16) {
    let at = at.to_offset(time::UtcOffset::UTC);
    let year = at.year().clamp(1980, 2107) as u16;
    let date = ((year - 1980) << 9) | (u16::from(u8::from(at.month())) << 5) | u16::from(at.day());
    let time =
        (u16::from(at.hour()) << 11) | (u16::from(at.minute()) << 5) | (u16::from(at.second()) / 2);
    (date, time)
}

struct Counting<W> {
    inner: W,
    written: u64,
}
impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One deflate call: compresses from `input` into `buf`, writes what it produced to `out`;
/// returns the input bytes consumed and whether the stream ended.
fn deflate_into(
    deflater: &mut flate2::Compress,
    input: &[u8],
    buf: &mut [u8],
    out: &mut impl Write,
    flush: flate2::FlushCompress,
) -> io::Result<(usize, bool)> {
    let (in_before, out_before) = (deflater.total_in(), deflater.total_out());
    let status = deflater
        .compress(input, buf, flush)
        .map_err(io::Error::other)?;
    let consumed = (deflater.total_in() - in_before) as usize;
    let produced = (deflater.total_out() - out_before) as usize;
    out.write_all(&buf[..produced])?;
    Ok((consumed, status == flate2::Status::StreamEnd))
}

/// Streams `data` through a reset `deflater` into `out`, reading into and deflating from the
/// two buffers: the CRC and the uncompressed size. Deflate's output depends on how its input is
/// fed, so [`ZipWriter::add_entry`] and [`deflate_entry`] both feed it here, the same way.
fn deflate_chunks(
    deflater: &mut flate2::Compress,
    data: &mut dyn Read,
    (buf, out_buf): (&mut [u8], &mut [u8]),
    out: &mut impl Write,
    observe: &mut dyn FnMut(&[u8]),
) -> io::Result<(u32, u64)> {
    let mut crc = crc32fast::Hasher::new();
    let mut size = 0u64;
    deflater.reset();
    loop {
        let n = match data.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc.update(&buf[..n]);
        observe(&buf[..n]);
        let mut input = &buf[..n];
        while !input.is_empty() {
            let (consumed, _) =
                deflate_into(deflater, input, out_buf, out, flate2::FlushCompress::None)?;
            input = &input[consumed..];
        }
        size += n as u64;
    }
    while !deflate_into(deflater, &[], out_buf, out, flate2::FlushCompress::Finish)?.1 {}
    Ok((crc.finalize(), size))
}

/// An entry's data deflated ahead of [`ZipWriter::add_compressed`] (on any thread).
pub struct DeflatedEntry {
    crc32: u32,
    size: u64,
    data: Vec<u8>,
}

impl DeflatedEntry {
    /// The Deflate stream, the CRC-32 and the size of the data (for [`ZipWriter::add_compressed`]).
    pub fn into_parts(self) -> (Vec<u8>, u32, u64) {
        (self.data, self.crc32, self.size)
    }
}

/// A deflater at the default level and its buffers, per thread (as [`ZipWriter`] keeps one).
type Deflating = (flate2::Compress, Vec<u8>, Vec<u8>);

thread_local! {
    static DEFLATERS: std::cell::RefCell<Option<Deflating>> = const { std::cell::RefCell::new(None) };
}

/// Deflates `bytes` as [`ZipWriter::add_entry`] at the default level would, with this thread's
/// deflater: a bundle's entries compress on every core, then are written in order.
pub fn deflate_entry(bytes: &[u8], observe: &mut dyn FnMut(&[u8])) -> io::Result<DeflatedEntry> {
    DEFLATERS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (deflater, buf, out_buf) = slot.get_or_insert_with(|| {
            (
                flate2::Compress::new(flate2::Compression::default(), false),
                vec![0u8; 256 * 1024],
                vec![0u8; 256 * 1024],
            )
        });
        let mut data = Vec::new();
        let (crc32, size) = deflate_chunks(
            deflater,
            &mut &bytes[..],
            (buf, out_buf),
            &mut data,
            observe,
        )?;
        Ok(DeflatedEntry { crc32, size, data })
    })
}

struct WrittenEntry {
    name: String,
    crc32: u32,
    compressed_size: u64,
    size: u64,
    offset: u64,
    zip64: bool,
}

/// Writes a zip in the appliance's canonical layout. Entries are streamed: `add_entry` takes
/// any reader, so multi-gigabyte payloads never sit in memory.
pub struct ZipWriter<W: Write> {
    out: Counting<W>,
    entries: Vec<WrittenEntry>,
    dos_date: u16,
    dos_time: u16,
    level: flate2::Compression,
    /// One deflater per level, reset between entries, and the buffers, reused: a deflater per
    /// entry (~300 KiB of state) left the allocator holding gigabytes for 100,000 entries.
    deflaters: Vec<(u32, flate2::Compress)>,
    read_buf: Vec<u8>,
    out_buf: Vec<u8>,
}

/// Entries at least this large get zip64 records (sizes cannot be known before streaming).
const ZIP64_THRESHOLD: u64 = 0xF000_0000;

/// The data descriptor after an entry's data: its CRC and sizes (64-bit for zip64 entries).
fn data_descriptor(crc32: u32, compressed_size: u64, size: u64, zip64: bool) -> Vec<u8> {
    let mut descriptor = Vec::with_capacity(24);
    descriptor.extend_from_slice(&DATA_DESCRIPTOR_SIG.to_le_bytes());
    descriptor.extend_from_slice(&crc32.to_le_bytes());
    if zip64 {
        descriptor.extend_from_slice(&compressed_size.to_le_bytes());
        descriptor.extend_from_slice(&size.to_le_bytes());
    } else {
        descriptor.extend_from_slice(&(compressed_size as u32).to_le_bytes());
        descriptor.extend_from_slice(&(size as u32).to_le_bytes());
    }
    descriptor
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W, time_stamp: time::OffsetDateTime) -> Self {
        let (dos_date, dos_time) = dos_date_time(time_stamp);
        ZipWriter {
            out: Counting {
                inner: out,
                written: 0,
            },
            entries: Vec::new(),
            dos_date,
            dos_time,
            level: flate2::Compression::default(),
            deflaters: Vec::new(),
            read_buf: vec![0u8; 256 * 1024],
            out_buf: vec![0u8; 256 * 1024],
        }
    }

    /// Like [`ZipWriter::add_entry`], but the Deflate stream holds stored blocks: for payloads that
    /// are already compressed (golden images are zips), where compressing again gains nothing and
    /// costs minutes per gigabyte on write and Huffman decoding on every verify.
    pub fn add_precompressed_entry(
        &mut self,
        name: &str,
        data: &mut dyn Read,
        size_hint: Option<u64>,
        observe: &mut dyn FnMut(&[u8]),
    ) -> io::Result<u64> {
        let level = std::mem::replace(&mut self.level, flate2::Compression::none());
        let result = self.add_entry(name, data, size_hint, observe);
        self.level = level;
        result
    }

    /// Streams `data` into a deflated entry; `size_hint` (when known) decides zip64 up front.
    /// Returns the number of uncompressed bytes. `observe` sees every uncompressed chunk (hashing).
    pub fn add_entry(
        &mut self,
        name: &str,
        data: &mut dyn Read,
        size_hint: Option<u64>,
        observe: &mut dyn FnMut(&[u8]),
    ) -> io::Result<u64> {
        let zip64 = size_hint.is_some_and(|s| s >= ZIP64_THRESHOLD);
        let offset = self.out.written;
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::other(format!("entry name too long: {name}")))?;
        let header = self.local_header(name, name_len, zip64);
        self.out.write_all(&header)?;
        let data_start = self.out.written;
        let (crc32, size) = self.deflate_stream(data, observe)?;
        let compressed_size = self.out.written - data_start;
        if !zip64 && (size >= 0xFFFF_FFFF || compressed_size >= 0xFFFF_FFFF) {
            return Err(io::Error::other(format!(
                "{name}: {size} bytes need zip64 records, but no size hint was given before streaming"
            )));
        }
        self.finish_entry(name, crc32, compressed_size, size, offset, zip64)?;
        Ok(size)
    }

    /// Adds an entry whose Deflate stream is already made: by [`deflate_entry`] on any thread,
    /// or copied from the previous zip by an incremental build (made there by this writer at
    /// this level from the same bytes). Header and data descriptor are written as
    /// [`ZipWriter::add_entry`] writes them for a size hint of `size`, so the bytes equal a fresh
    /// compression's.
    pub fn add_compressed(
        &mut self,
        name: &str,
        compressed: &[u8],
        crc32: u32,
        size: u64,
    ) -> io::Result<()> {
        let zip64 = size >= ZIP64_THRESHOLD;
        let offset = self.out.written;
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::other(format!("entry name too long: {name}")))?;
        let header = self.local_header(name, name_len, zip64);
        self.out.write_all(&header)?;
        self.out.write_all(compressed)?;
        let compressed_size = compressed.len() as u64;
        self.finish_entry(name, crc32, compressed_size, size, offset, zip64)
    }

    /// Writes an entry's data descriptor and records it for the central directory.
    fn finish_entry(
        &mut self,
        name: &str,
        crc32: u32,
        compressed_size: u64,
        size: u64,
        offset: u64,
        zip64: bool,
    ) -> io::Result<()> {
        self.out
            .write_all(&data_descriptor(crc32, compressed_size, size, zip64))?;
        self.entries.push(WrittenEntry {
            name: name.to_string(),
            crc32,
            compressed_size,
            size,
            offset,
            zip64,
        });
        Ok(())
    }

    /// The local file header: sizes and CRC left zero (they follow in the data descriptor), a
    /// zip64 extra field when the entry may need one.
    fn local_header(&self, name: &str, name_len: u16, zip64: bool) -> Vec<u8> {
        let mut header = Vec::with_capacity(30 + name.len() + 20);
        header.extend_from_slice(&LOCAL_HEADER_SIG.to_le_bytes());
        header.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        header.extend_from_slice(&APPLIANCE_FLAGS.to_le_bytes());
        header.extend_from_slice(&METHOD_DEFLATE.to_le_bytes());
        header.extend_from_slice(&self.dos_time.to_le_bytes());
        header.extend_from_slice(&self.dos_date.to_le_bytes());
        header.extend_from_slice(&[0u8; 12]); // CRC and sizes follow in the data descriptor
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&(if zip64 { 20u16 } else { 0u16 }).to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        if zip64 {
            header.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            header.extend_from_slice(&16u16.to_le_bytes());
            header.extend_from_slice(&[0u8; 16]);
        }
        header
    }

    /// Deflates `data` into the output with a reused deflater for the level: the CRC and the
    /// uncompressed size.
    fn deflate_stream(
        &mut self,
        data: &mut dyn Read,
        observe: &mut dyn FnMut(&[u8]),
    ) -> io::Result<(u32, u64)> {
        let level = self.level.level();
        let at = match self.deflaters.iter().position(|(l, _)| *l == level) {
            Some(at) => at,
            None => {
                // Raw Deflate (no zlib header), as zip entries hold it.
                let deflater = flate2::Compress::new(self.level, false);
                self.deflaters.push((level, deflater));
                self.deflaters.len() - 1
            }
        };
        let deflater = &mut self.deflaters[at].1;
        let buffers = (&mut self.read_buf[..], &mut self.out_buf[..]);
        deflate_chunks(deflater, data, buffers, &mut self.out, observe)
    }

    /// Writes the central directory and end records; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.out.written;
        for entry in &self.entries {
            let needs64 = entry.zip64 || entry.offset >= 0xFFFF_FFFF;
            let mut extra = Vec::new();
            if needs64 {
                extra.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                extra.extend_from_slice(&24u16.to_le_bytes());
                extra.extend_from_slice(&entry.size.to_le_bytes());
                extra.extend_from_slice(&entry.compressed_size.to_le_bytes());
                extra.extend_from_slice(&entry.offset.to_le_bytes());
            }
            let small = |v: u64| if needs64 { 0xFFFF_FFFFu32 } else { v as u32 };
            let version: u16 = if needs64 { 45 } else { 20 };
            let mut record = Vec::with_capacity(46 + entry.name.len() + extra.len());
            record.extend_from_slice(&CENTRAL_HEADER_SIG.to_le_bytes());
            record.extend_from_slice(&version.to_le_bytes()); // made by: MS-DOS host (0)
            record.extend_from_slice(&version.to_le_bytes()); // needed to extract
            record.extend_from_slice(&APPLIANCE_FLAGS.to_le_bytes());
            record.extend_from_slice(&METHOD_DEFLATE.to_le_bytes());
            record.extend_from_slice(&self.dos_time.to_le_bytes());
            record.extend_from_slice(&self.dos_date.to_le_bytes());
            record.extend_from_slice(&entry.crc32.to_le_bytes());
            record.extend_from_slice(&small(entry.compressed_size).to_le_bytes());
            record.extend_from_slice(&small(entry.size).to_le_bytes());
            record.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
            record.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            record.extend_from_slice(&0u16.to_le_bytes()); // comment
            record.extend_from_slice(&0u16.to_le_bytes()); // disk
            record.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            record.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            record.extend_from_slice(&small(entry.offset).to_le_bytes());
            record.extend_from_slice(entry.name.as_bytes());
            record.extend_from_slice(&extra);
            self.out.write_all(&record)?;
        }
        let cd_size = self.out.written - cd_start;
        let count = self.entries.len() as u64;
        let needs64 = count >= 0xFFFF
            || cd_start >= 0xFFFF_FFFF
            || self
                .entries
                .iter()
                .any(|e| e.zip64 || e.offset >= 0xFFFF_FFFF);
        if needs64 {
            let zip64_end_at = self.out.written;
            let mut record = Vec::with_capacity(76);
            record.extend_from_slice(&ZIP64_END_SIG.to_le_bytes());
            record.extend_from_slice(&44u64.to_le_bytes());
            record.extend_from_slice(&45u16.to_le_bytes());
            record.extend_from_slice(&45u16.to_le_bytes());
            record.extend_from_slice(&0u32.to_le_bytes());
            record.extend_from_slice(&0u32.to_le_bytes());
            record.extend_from_slice(&count.to_le_bytes());
            record.extend_from_slice(&count.to_le_bytes());
            record.extend_from_slice(&cd_size.to_le_bytes());
            record.extend_from_slice(&cd_start.to_le_bytes());
            record.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            record.extend_from_slice(&0u32.to_le_bytes());
            record.extend_from_slice(&zip64_end_at.to_le_bytes());
            record.extend_from_slice(&1u32.to_le_bytes());
            self.out.write_all(&record)?;
        }
        let clamp16 = |v: u64| if needs64 { 0xFFFF } else { v as u16 };
        let clamp32 = |v: u64| if needs64 { 0xFFFF_FFFF } else { v as u32 };
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&END_SIG.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&clamp16(count).to_le_bytes());
        end.extend_from_slice(&clamp16(count).to_le_bytes());
        end.extend_from_slice(&clamp32(cd_size).to_le_bytes());
        end.extend_from_slice(&clamp32(cd_start).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}
