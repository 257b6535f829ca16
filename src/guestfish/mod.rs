//! The plan-script language: guestfish command scripts as Image Streamer runs them.
//!
//! Two parts, shared by `lint`, `render` and `image`:
//! - [`parse`]: a script → [`Command`]s with 1-based line numbers, guestfish word splitting
//!   (quotes), the leading `-` ignore-error flag, comments, and `upload -<<TAG path`
//!   here-documents with their body. Problems (unterminated here-documents, nested `upload -<<`,
//!   `upload - <<TAG`, CRLF, unterminated quotes) come back as data with line numbers; the
//!   parser never fails and never panics.
//! - [`commands`]: THE guestfish command table (name → argument counts, effect on the image).
//!
//! ```
//! use i3s_bundle::guestfish::{self, commands};
//! let script = guestfish::parse("mount /dev/cl/root /\nupload -<<END /etc/motd\nhello\nEND\n-statvfs /");
//! assert!(script.problems.is_empty());
//! assert_eq!(script.commands[1].heredoc.as_ref().unwrap().body, "hello");
//! assert!(script.commands[2].ignore_errors);
//! assert!(commands::lookup("statvfs").is_some());
//! ```
pub mod commands;
pub mod driver;
pub mod host;
pub mod parse;
pub mod substitute;

pub use commands::{CommandSpec, Effect};
pub use parse::{Command, HereDoc, HostShell, ParseProblem, ProblemKind, Script, parse};
