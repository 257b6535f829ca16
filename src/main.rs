//! The `i3s-bundle` command: parse arguments, call the library, print, choose the exit code.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = i3s_bundle::cli::Cli::parse();
    // A server must outlive whoever read its first lines (a test, `| head -1`); every other
    // command ends quietly when its output pipe closes.
    #[cfg(feature = "simulator")]
    let server = matches!(cli.command, i3s_bundle::cli::Command::Simulate(_));
    #[cfg(not(feature = "simulator"))]
    let server = false;
    if !server {
        restore_default_sigpipe();
    }
    match i3s_bundle::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// `i3s-bundle inspect x.zip | head` should end quietly like any Unix tool, not panic on the
/// broken pipe: Rust ignores SIGPIPE by default, so restore the default action.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
