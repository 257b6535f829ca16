//! The one error type. Every error says where (file, line, column or zip entry) and what.
pub mod appliance;

pub use appliance::ApplianceError;
use std::fmt;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A place in the user's input.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Location {
    pub file: PathBuf,
    /// A zip entry inside `file`, when the problem is inside a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            ..Default::default()
        }
    }
    pub fn entry(file: impl Into<PathBuf>, entry: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            entry: Some(entry.into()),
            ..Default::default()
        }
    }
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
    pub fn line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, "!{entry}")?;
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// What is wrong with a bundle zip; one variant per rejection so callers and tests can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleProblem {
    NotAZip(String),
    DirectoryEntry,
    DirectoryPart,
    ParentComponent,
    AbsolutePath,
    Backslash,
    DuplicateName,
    TooLarge {
        size: u64,
        limit: u64,
        declared: bool,
    },
    InvalidUtf8 {
        offset: usize,
    },
    MalformedJson {
        message: String,
    },
    BadObject {
        message: String,
    },
    TypeMismatch {
        expected: String,
        found: String,
    },
    IdMismatch {
        file_id: String,
        json_id: String,
    },
    MissingManifest,
    Damaged(String),
}

impl fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleProblem::NotAZip(reason) => write!(f, "{reason}"),
            BundleProblem::DirectoryEntry => write!(f, "is a directory entry; bundles are flat"),
            BundleProblem::DirectoryPart => {
                write!(f, "has a directory part ('/'); bundles are flat")
            }
            BundleProblem::ParentComponent => write!(f, "contains '..'"),
            BundleProblem::AbsolutePath => write!(f, "is an absolute path"),
            BundleProblem::Backslash => write!(f, "contains a backslash"),
            BundleProblem::DuplicateName => write!(f, "occurs more than once"),
            BundleProblem::TooLarge {
                size,
                limit,
                declared: true,
            } => {
                write!(
                    f,
                    "declares {size} bytes, more than the limit of {limit} (raise it with --max-entry-size)"
                )
            }
            BundleProblem::TooLarge { limit, .. } => {
                write!(
                    f,
                    "inflates to more than the limit of {limit} bytes (raise it with --max-entry-size)"
                )
            }
            BundleProblem::InvalidUtf8 { offset } => {
                write!(f, "is not valid UTF-8 (at byte {offset})")
            }
            BundleProblem::MalformedJson { message } => write!(f, "is not valid JSON: {message}"),
            BundleProblem::BadObject { message } => write!(f, "is not a valid artifact: {message}"),
            BundleProblem::TypeMismatch { expected, found } => {
                write!(
                    f,
                    "has \"type\":{found:?}, but its file name says {expected}"
                )
            }
            BundleProblem::IdMismatch { file_id, json_id } => {
                write!(f, "is named after uuid {file_id} but its id is {json_id:?}")
            }
            BundleProblem::MissingManifest => write!(f, "has no MANIFEST.MF"),
            BundleProblem::Damaged(reason) => write!(f, "{reason}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {problem}")]
    Bundle {
        location: Location,
        problem: BundleProblem,
    },
    /// A problem in the user's input with a place to point at.
    #[error("{location}: {message}{}", help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
    At {
        location: Location,
        message: String,
        help: Option<String>,
    },
    /// Bad arguments or configuration: nothing was attempted.
    #[error("{0}")]
    Usage(String),
    /// Talking to an appliance (or a Consul agent) failed: the HTTP status, the task's errors and
    /// recommended actions, a timeout, TLS.
    #[error(transparent)]
    Appliance(#[from] ApplianceError),
    /// What was being done when `source` happened ("deleting bundle …", "deployment plan …").
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
    /// Logging in failed: nothing was attempted, so it is unusable (exit 2) even after a timeout.
    #[error("cannot log in to {base}: {source}")]
    Login { base: String, source: Box<Error> },
    /// The command's work failed — on its input (a source error in `build`) or on the appliance
    /// after logging in (`pull`, `golden-image upload`): an outcome, exit 1 (docs/commands.md), whatever the
    /// cause. `after` is a line said after the error ("nothing was written").
    #[error("{source}{}", after.as_ref().map(|a| format!("\n{a}")).unwrap_or_default())]
    Failed {
        source: Box<Error>,
        after: Option<String>,
    },
    #[error("{0}")]
    Other(String),
}

/// What a command asked for `--json` prints on stdout when it fails, instead of its report:
/// `{"error": {"message", "kind", "exit_code", "location"?, "help"?}}` (docs/schemas/error.json).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorReport {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// The whole message, as printed on stderr after `error: `.
    pub message: String,
    /// io, bundle, input, usage, appliance, login, failed or other.
    pub kind: &'static str,
    pub exit_code: u8,
    /// Where the problem is (file, zip entry, line, column), when it has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// What to do about it, when the error says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl ErrorReport {
    /// A usage error found before any command ran (clap's: an unknown flag, a missing value).
    pub fn usage(message: impl Into<String>) -> Self {
        ErrorReport {
            error: ErrorDetail {
                message: message.into(),
                kind: "usage",
                exit_code: exit::UNUSABLE,
                location: None,
                help: None,
            },
        }
    }
}

/// `result.context(|| format!("deleting bundle {name:?}"))`: says what was being done, keeping
/// the error itself (an appliance's status, task errors, recommended actions) reachable.
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context(),
            source: Box::new(e.into()),
        })
    }
}

/// Exit codes (docs/commands.md, per command): the one map from outcome to code.
pub mod exit {
    /// Success: nothing wrong found.
    pub const OK: u8 = 0;
    /// The command ran and found problems (lint findings, a failed plan, a failed deployment).
    pub const PROBLEMS: u8 = 1;
    /// `status`: the appliance differs from the bundles (drift). The same code as findings: drift
    /// is what `status` finds, as lint finds problems and diff differences.
    pub const DRIFT: u8 = PROBLEMS;
    /// The command could not do its work: bad input, an unreachable appliance, an error answer.
    pub const UNUSABLE: u8 = 2;
    /// A time bound ran out before the outcome was known.
    pub const TIMEOUT: u8 = 3;
}

impl Error {
    /// The process exit code this error ends a command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Appliance(
                ApplianceError::Timeout { .. } | ApplianceError::TaskTimeout { .. },
            ) => exit::TIMEOUT,
            Error::Context { source, .. } => source.exit_code(),
            Error::Failed { .. } => exit::PROBLEMS,
            _ => exit::UNUSABLE,
        }
    }
    /// This error as `--json` prints it.
    pub fn report(&self) -> ErrorReport {
        let inner = self.innermost();
        let (location, help) = match inner {
            Error::At { location, help, .. } => (Some(location.clone()), help.clone()),
            Error::Bundle { location, .. } => (Some(location.clone()), None),
            Error::Io { path, .. } => (Some(Location::file(path)), None),
            _ => (None, None),
        };
        let kind = match (self, inner) {
            (Error::Login { .. }, _) => "login",
            (_, Error::Io { .. }) => "io",
            (_, Error::Bundle { .. }) => "bundle",
            (_, Error::At { .. }) => "input",
            (_, Error::Usage(_)) => "usage",
            (_, Error::Appliance(_)) => "appliance",
            (Error::Failed { .. }, _) => "failed",
            _ => "other",
        };
        ErrorReport {
            error: ErrorDetail {
                message: self.to_string(),
                kind,
                exit_code: self.exit_code(),
                location,
                help,
            },
        }
    }
    /// Below the wrappers that only add words (what was being done, "nothing was written").
    fn innermost(&self) -> &Error {
        match self {
            Error::Context { source, .. }
            | Error::Login { source, .. }
            | Error::Failed { source, .. } => source.innermost(),
            other => other,
        }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        Error::At {
            location,
            message: message.into(),
            help: None,
        }
    }
    pub fn with_help(self, help: impl Into<String>) -> Self {
        match self {
            Error::At {
                location, message, ..
            } => Error::At {
                location,
                message,
                help: Some(help.into()),
            },
            other => other,
        }
    }
    pub fn bundle(location: Location, problem: BundleProblem) -> Self {
        Error::Bundle { location, problem }
    }
    /// See [`Error::Failed`].
    pub fn failed(self) -> Self {
        Error::Failed {
            source: Box::new(self),
            after: None,
        }
    }
    pub fn other(message: impl Into<String>) -> Self {
        Error::Other(message.into())
    }
    /// The appliance's answer behind this error (under any context), for callers that branch on
    /// its status or task errors.
    pub fn appliance(&self) -> Option<&ApplianceError> {
        match self {
            Error::Appliance(e) => Some(e),
            Error::Context { source, .. }
            | Error::Login { source, .. }
            | Error::Failed { source, .. } => source.appliance(),
            _ => None,
        }
    }
    /// The bundle problem, for callers (and tests) that branch on it.
    pub fn bundle_problem(&self) -> Option<&BundleProblem> {
        match self {
            Error::Bundle { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// Line and column (1-based) of a byte offset in a text.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}
