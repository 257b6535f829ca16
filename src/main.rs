//! The `i3s-bundle` command: parse arguments, call the library, print, choose the exit code.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match i3s_bundle::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return bad_arguments(error),
    };
    // A server must outlive whoever read its first lines (a test, `| head -1`); every other
    // command ends quietly when its output pipe closes.
    #[cfg(feature = "simulator")]
    let server = matches!(cli.command, i3s_bundle::cli::Command::Simulate(_));
    #[cfg(not(feature = "simulator"))]
    let server = false;
    if !server {
        restore_default_sigpipe();
    }
    let json = cli.command.wants_json();
    match i3s_bundle::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            i3s_bundle::cli::report_error(&error, json);
            ExitCode::from(error.exit_code())
        }
    }
}

/// clap's own message and exit code (help and --version print and succeed); with `--json` on
/// the line, the usage error is printed as JSON on stdout too.
fn bad_arguments(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && std::env::args().any(|arg| arg == "--json") {
        let text = error.render().to_string();
        let message = text.trim().trim_start_matches("error: ");
        let report = i3s_bundle::error::ErrorReport::usage(message);
        if let Ok(text) = serde_json::to_string_pretty(&report) {
            println!("{text}");
        }
    }
    error.exit()
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

/// mimalloc instead of glibc malloc: a clean build makes millions of small, short-lived
/// allocations (template values, JSON, strings) on both cores; malloc was a quarter of a
/// 10,000-distinct-template build's profile. Its `no_thp` feature (Cargo.toml) keeps it from
/// asking for transparent huge pages: zeroing 2 MiB pages on first touch cost 16 % of the build
/// and raised its peak RSS from ~85 to ~125 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
