//! What the tool tells people on the terminal besides its result, and how much: one setting for
//! every command, from the global `-q` / `-v` flags.
//!
//! - `-q`: errors, the result asked for (a report, JSON, findings) and security warnings only;
//!   no progress, notes, retries or ordinary warnings.
//! - default: progress lines and warnings on stderr.
//! - `-v`, `-vv`, `-vvv`: more detail; for the appliance conversation requests, then headers,
//!   then bodies (secrets always redacted).
use std::fmt::Display;
use std::sync::atomic::{AtomicI8, Ordering};

static LEVEL: AtomicI8 = AtomicI8::new(0);

/// Set once by the CLI from `-q` / `-v`; library callers (tests, benches) keep the default.
pub fn set_level(quiet: bool, verbose: u8) {
    let level = if quiet { -1 } else { verbose.min(9) as i8 };
    LEVEL.store(level, Ordering::Relaxed);
}

/// -1 quiet, 0 normal, 1.. verbose.
pub fn level() -> i8 {
    LEVEL.load(Ordering::Relaxed)
}

pub fn quiet() -> bool {
    level() < 0
}

/// A line of progress or a note, on stderr (silenced by `-q`).
pub fn note(message: impl Display) {
    if !quiet() {
        eprintln!("{message}");
    }
}

/// `warning: …` on stderr (silenced by `-q`).
pub fn warn(message: impl Display) {
    if !quiet() {
        eprintln!("warning: {message}");
    }
}

/// A warning about safety (cleartext passwords, unverified TLS, host access): never silenced.
pub fn alert(message: impl Display) {
    eprintln!("WARNING: {message}");
}

/// Detail shown from `-v` (level 1), `-vv` (2) or `-vvv` (3) on; built only when shown.
pub fn detail(at: u8, message: impl FnOnce() -> String) {
    if level() >= at as i8 {
        eprintln!("{}", message());
    }
}

/// Whether a live progress bar belongs on stderr: a terminal, not CI, not `-q`.
pub fn live_progress() -> bool {
    !quiet()
        && std::env::var_os("CI").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
}
