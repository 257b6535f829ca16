//! The checksum file: `<entry>\t<hex digest>\n` per entry, in entry order, never itself.
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumFlavour {
    /// `SHA1SUM.sha1sum`, OneView 3.00 era appliances.
    Sha1,
    /// `SHA256SUM.sha256sum`, OneView 3.10 and later.
    #[default]
    Sha256,
}

impl ChecksumFlavour {
    pub const ALL: [ChecksumFlavour; 2] = [ChecksumFlavour::Sha256, ChecksumFlavour::Sha1];

    pub fn file_name(self) -> &'static str {
        match self {
            ChecksumFlavour::Sha1 => "SHA1SUM.sha1sum",
            ChecksumFlavour::Sha256 => "SHA256SUM.sha256sum",
        }
    }

    pub fn from_file_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.file_name() == name)
    }

    pub fn hasher(self) -> EntryHasher {
        match self {
            ChecksumFlavour::Sha1 => EntryHasher::Sha1(Sha1::new()),
            ChecksumFlavour::Sha256 => EntryHasher::Sha256(Sha256::new()),
        }
    }

    pub fn digest_len(self) -> usize {
        match self {
            ChecksumFlavour::Sha1 => 40,
            ChecksumFlavour::Sha256 => 64,
        }
    }
}

/// A checksum flavour name that is neither sha256 nor sha1 (lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFlavour(pub String);

impl std::fmt::Display for UnknownFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown checksum flavour {:?} (expected sha256 or sha1)",
            self.0
        )
    }
}

impl std::error::Error for UnknownFlavour {}

impl std::str::FromStr for ChecksumFlavour {
    type Err = UnknownFlavour;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Ok(ChecksumFlavour::Sha1),
            "sha256" => Ok(ChecksumFlavour::Sha256),
            other => Err(UnknownFlavour(other.to_string())),
        }
    }
}

impl std::fmt::Display for ChecksumFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChecksumFlavour::Sha1 => "sha1",
            ChecksumFlavour::Sha256 => "sha256",
        })
    }
}

/// A streaming hasher of either flavour.
#[derive(Clone)]
pub enum EntryHasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl EntryHasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            EntryHasher::Sha1(h) => h.update(data),
            EntryHasher::Sha256(h) => h.update(data),
        }
    }

    pub fn finish_hex(self) -> String {
        match self {
            EntryHasher::Sha1(h) => hex::encode(h.finalize()),
            EntryHasher::Sha256(h) => hex::encode(h.finalize()),
        }
    }
}

/// One line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumLine {
    pub entry: String,
    pub digest: String,
    /// 1-based line number in the checksum file.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumFile {
    pub flavour: ChecksumFlavour,
    pub lines: Vec<ChecksumLine>,
    /// Lines that are not `name<TAB>hex`, with their line numbers.
    pub malformed: Vec<(usize, String)>,
    pub ends_with_newline: bool,
}

impl ChecksumFile {
    pub fn parse(flavour: ChecksumFlavour, text: &str) -> Self {
        let mut lines = Vec::new();
        let mut malformed = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            match line.rsplit_once('\t') {
                Some((entry, digest))
                    if digest.len() == flavour.digest_len()
                        && digest.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    lines.push(ChecksumLine {
                        entry: entry.to_string(),
                        digest: digest.to_ascii_lowercase(),
                        line: index + 1,
                    })
                }
                _ => malformed.push((index + 1, line.to_string())),
            }
        }
        ChecksumFile {
            flavour,
            lines,
            malformed,
            ends_with_newline: text.ends_with('\n'),
        }
    }

    /// The canonical text for `(entry, digest)` pairs in entry order.
    pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        let mut out = String::new();
        for (entry, digest) in entries {
            out.push_str(entry);
            out.push('\t');
            out.push_str(digest);
            out.push('\n');
        }
        out
    }

    pub fn digest_of(&self, entry: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.entry == entry)
            .map(|l| l.digest.as_str())
    }
}
