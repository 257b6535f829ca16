//! Driving the guestfish binary: drives, environment, one process per run, errors mapped back.
//!
//! Facts this relies on (`docs/guestfish.md`): a script fed on stdin that starts with
//! `run` launches the appliance once (~20 s under software emulation); guestfish stops at the
//! first failing command not prefixed with `-`, exits 1, and prints `*stdin*:N: …` on stderr,
//! where N counts lines over the whole input. Several disks can share one launch: LVM sees only
//! the disk chosen with `lvm-set-filter`, so copies of one image (same VG name) do not clash.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The on-disk format of an image (what `qemu-img` and guestfish call it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Raw,
    Qcow2,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
        }
    }

    /// Sniffs the format from the file's first bytes (qcow2 starts with `QFI\xfb`).
    pub fn detect(path: &Path) -> Result<DiskFormat> {
        use std::io::Read;
        let mut magic = [0u8; 4];
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let n = file.read(&mut magic).map_err(|e| Error::io(path, e))?;
        Ok(if n == 4 && &magic == b"QFI\xfb" {
            DiskFormat::Qcow2
        } else {
            DiskFormat::Raw
        })
    }
}

/// One disk given to guestfish.
#[derive(Debug, Clone)]
pub struct Drive {
    pub path: PathBuf,
    pub format: DiskFormat,
    pub read_only: bool,
}

/// The appliance device name of the n-th drive (0 → `/dev/sda`, 26 → `/dev/sdaa`).
pub fn device_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("/dev/sd{}", String::from_utf8(letters).expect("ascii"))
}

/// How the appliance is accelerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Let libguestfs use KVM.
    Kvm,
    /// Software emulation (`force_tcg`): slow but works where nested KVM does not.
    Tcg,
}

/// Environment variable to choose the accelerator: `kvm`, `tcg` or `auto` (the default).
pub const ACCEL_ENV: &str = "I3S_BUNDLE_GUESTFISH_ACCEL";

/// `auto`: KVM only where it can work (a usable `/dev/kvm` and a CPU that shows vmx/svm).
/// On nested virtual machines without those flags qemu aborts or hangs with KVM, so TCG.
pub fn choose_accel() -> Accel {
    match std::env::var(ACCEL_ENV).as_deref() {
        Ok("kvm") => return Accel::Kvm,
        Ok("tcg") => return Accel::Tcg,
        _ => {}
    }
    let kvm_device = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let cpu_flags = std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| {
            info.lines()
                .any(|l| l.starts_with("flags") && (l.contains(" vmx") || l.contains(" svm")))
        })
        .unwrap_or(false);
    if kvm_device && cpu_flags {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// The environment guestfish runs with. Variables the user set win over these defaults.
pub fn environment(accel: Accel) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    let mut default = |key: &'static str, value: &str| {
        if std::env::var_os(key).is_none() {
            env.push((key, value.to_string()));
        }
    };
    default("LIBGUESTFS_BACKEND", "direct");
    default("LIBGUESTFS_MEMSIZE", "512");
    if accel == Accel::Tcg {
        default("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    }
    env
}

/// Variables guestfish gets from the caller's environment (besides `LIBGUESTFS_*`,
/// `SUPERMIN_*` and `LC_*`): where programs are, where to write temporary files and the
/// appliance cache, and the language of messages.
const KEPT_ENVIRONMENT: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "TERM", "USER", "LOGNAME"];

/// Whether guestfish gets the caller's variable `key`.
fn kept(key: &std::ffi::OsStr) -> bool {
    key.to_str().is_some_and(|k| {
        KEPT_ENVIRONMENT.contains(&k)
            || k.starts_with("LIBGUESTFS_")
            || k.starts_with("SUPERMIN_")
            || k.starts_with("LC_")
    })
}

/// What one guestfish process did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// One error line guestfish printed, with the input line it names (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLine {
    /// 1-based line of the joined stdin input.
    pub line: Option<usize>,
    /// The message without the `*stdin*:N: ` and `libguestfs: error: ` prefixes.
    pub message: String,
}

/// guestfish's error lines in `stderr`, joined with "; ": the one-line reason of a failed launch.
pub fn error_summary(stderr: &str) -> String {
    error_lines(stderr)
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Splits stderr into error lines. Continuation lines (a multi-line message) join the previous one.
pub fn error_lines(stderr: &str) -> Vec<ErrorLine> {
    let mut out: Vec<ErrorLine> = Vec::new();
    for raw in stderr.lines() {
        if let Some(rest) = raw.strip_prefix("*stdin*:") {
            let (number, message) = rest.split_once(": ").unwrap_or((rest, ""));
            if let Ok(line) = number.parse::<usize>() {
                let message = message
                    .strip_prefix("libguestfs: error: ")
                    .unwrap_or(message);
                out.push(ErrorLine {
                    line: Some(line),
                    message: message.to_string(),
                });
                continue;
            }
        }
        if raw.trim().is_empty() {
            continue;
        }
        let starts_new = raw.starts_with("libguestfs: ")
            || raw.starts_with("guestfish: ")
            || raw.contains(": unknown command");
        match out.last_mut() {
            Some(last) if !starts_new => {
                last.message.push('\n');
                last.message.push_str(raw);
            }
            _ => out.push(ErrorLine {
                line: None,
                message: raw
                    .strip_prefix("libguestfs: error: ")
                    .unwrap_or(raw)
                    .to_string(),
            }),
        }
    }
    out
}

/// Runs one guestfish process over `drives` with `script` on stdin. The script must start with
/// `run` (after any pre-launch commands). Fails only when guestfish cannot be started.
pub fn run_script(drives: &[Drive], script: &str) -> Result<Outcome> {
    let started = Instant::now();
    let mut command = Command::new("guestfish");
    for drive in drives {
        command.arg(if drive.read_only { "--ro" } else { "--rw" });
        command.arg(format!("--format={}", drive.format.as_str()));
        command.arg("-a").arg(&drive.path);
    }
    // Least privilege that works: guestfish and the programs it may start (qemu, supermin, and
    // under --allow-host-commands a shell, $EDITOR, $PAGER) see only what they need, not the
    // user's whole environment (tokens, passwords in variables, EDITOR/PAGER/LD_PRELOAD…).
    command.env_clear();
    command.envs(std::env::vars_os().filter(|(key, _)| kept(key)));
    command.envs(environment(choose_accel()));
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        Error::other(format!(
            "cannot start guestfish: {e} (install it: `bash .ci/install-guestfish` on Debian 12, or your distribution's libguestfs-tools)"
        ))
    })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = script.to_string();
    // Write on a thread: guestfish may print a lot before it has read all its input.
    let writer = std::thread::spawn(move || {
        // guestfish stops reading at the first failing command; the rest of a long script then
        // meets a closed pipe. The CLI restores the default SIGPIPE action (so `| head` ends
        // quietly), which would kill the whole process here with no report: block SIGPIPE on
        // this thread only, so the write fails with EPIPE and the failure is reported.
        block_sigpipe_on_this_thread();
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child
        .wait_with_output()
        .map_err(|e| Error::other(format!("guestfish: {e}")))?;
    let _ = writer.join();
    Ok(Outcome {
        success: output.status.success(),
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// Blocks SIGPIPE for the calling thread: a write to a closed pipe then returns EPIPE. A SIGPIPE
/// raised for a thread is directed at it (pthread_sigmask(3), signal(7)), so other threads and
/// the process's disposition are unaffected.
fn block_sigpipe_on_this_thread() {
    #[cfg(unix)]
    // SAFETY: sigemptyset/sigaddset initialise a local set; pthread_sigmask only changes this
    // thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Quotes a word for a guestfish command line (double quotes, backslash escapes).
pub fn quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Quotes a local path for the `| local command` part of a guestfish line (run by `/bin/sh`).
pub fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// A script being assembled line by line, remembering where each line came from so that
/// guestfish's `*stdin*:N` can be mapped back to a plan step and its line.
///
/// guestfish does not count here-document lines (body and terminator) in N, so those are
/// added with [`Script::heredoc_line`] and skipped when mapping.
#[derive(Debug, Clone, Default)]
pub struct Script<O> {
    lines: Vec<String>,
    origins: Vec<O>,
    /// Indices of the lines guestfish counts.
    counted: Vec<usize>,
}

impl<O: Clone> Script<O> {
    pub fn new() -> Self {
        Script {
            lines: Vec::new(),
            origins: Vec::new(),
            counted: Vec::new(),
        }
    }
    /// Appends one command (or comment, or blank) line; must not contain a newline.
    pub fn line(&mut self, text: impl Into<String>, origin: O) {
        self.counted.push(self.lines.len());
        self.push(text.into(), origin);
    }
    /// Appends a here-document body or terminator line (not counted by guestfish).
    pub fn heredoc_line(&mut self, text: impl Into<String>, origin: O) {
        self.push(text.into(), origin);
    }
    fn push(&mut self, text: String, origin: O) {
        debug_assert!(!text.contains('\n'), "one line at a time: {text:?}");
        self.lines.push(text);
        self.origins.push(origin);
    }
    /// Where guestfish's 1-based input line N came from.
    pub fn origin(&self, line: usize) -> Option<&O> {
        line.checked_sub(1)
            .and_then(|i| self.counted.get(i))
            .and_then(|&i| self.origins.get(i))
    }
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guestfish_gets_only_what_it_needs_of_the_environment() {
        let kept = |k: &str| super::kept(std::ffi::OsStr::new(k));
        for k in [
            "PATH",
            "HOME",
            "TMPDIR",
            "LANG",
            "LC_ALL",
            "LIBGUESTFS_BACKEND",
            "SUPERMIN_KERNEL",
        ] {
            assert!(kept(k), "{k}");
        }
        for k in [
            "EDITOR",
            "PAGER",
            "LD_PRELOAD",
            "ONEVIEWSDK_PASSWORD",
            "CONSUL_HTTP_TOKEN",
            "SHELL",
        ] {
            assert!(!kept(k), "{k}");
        }
    }

    #[test]
    fn device_names_follow_the_appliance() {
        assert_eq!(device_name(0), "/dev/sda");
        assert_eq!(device_name(25), "/dev/sdz");
        assert_eq!(device_name(26), "/dev/sdaa");
        assert_eq!(device_name(27), "/dev/sdab");
    }

    #[test]
    fn error_lines_keep_line_numbers_and_join_continuations() {
        let stderr =
            "*stdin*:4: libguestfs: error: debug: a b\n/\nbin\nfrobnicate: unknown command\n";
        let lines = error_lines(stderr);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, Some(4));
        assert_eq!(lines[0].message, "debug: a b\n/\nbin");
        assert_eq!(
            lines[1],
            ErrorLine {
                line: None,
                message: "frobnicate: unknown command".into()
            }
        );
    }

    #[test]
    fn here_document_lines_are_not_counted() {
        let mut script = Script::new();
        script.line("run", 0);
        script.line("upload -<<END /x", 1);
        script.heredoc_line("body", 2);
        script.heredoc_line("END", 3);
        script.line("rm /y", 4);
        assert_eq!(script.origin(3), Some(&4));
        assert_eq!(script.text(), "run\nupload -<<END /x\nbody\nEND\nrm /y\n");
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(shell_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }
}
