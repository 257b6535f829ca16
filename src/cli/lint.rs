use crate::lint::{self, Config, DenyLevel, LintOptions, cache::Cache};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    /// Compact Markdown (one collapsible block per artifact) for a PR comment or CI job summary.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project roots (their bundles-src/ is compiled in memory and linted with findings at template
    /// lines), single bundle sources (bundles-src/NAME.toml), bundle zips, or directories of zips. Default: `.` when it has bundles-src/,
    /// else dist/.
    pub paths: Vec<PathBuf>,
    /// Output format (`--json` is the same as `--format json`).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Print the report as JSON (the spelling every other command uses).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit 1 when a finding of this severity or worse remains (default: the config's, else error).
    #[arg(long, value_enum)]
    pub deny: Option<DenyLevel>,
    /// Config file with allow lists (default: ./i3s-lint.toml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the explanation of a rule (e.g. I3S031) and exit.
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,
    /// Do not run shellcheck on uploaded shell scripts.
    #[arg(long)]
    pub no_shellcheck: bool,
    /// Do not read or write the result cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Result cache directory (default: $I3S_LINT_CACHE or ~/.cache/i3s-bundle/lint).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    if let Some(id) = &args.explain {
        let text = lint::rules::explain(id)
            .ok_or_else(|| crate::Error::Usage(format!("unknown rule {id:?}")))?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => config_from_cwd()?,
    };
    let deny = args.deny.or(config.deny).unwrap_or_default();
    let cache = (!args.no_cache)
        .then(|| Cache::new(args.cache_dir.clone().unwrap_or_else(Cache::default_dir)));
    let options = LintOptions {
        config,
        shellcheck: !args.no_shellcheck,
        cache_dir: cache.as_ref().map(|c| c.dir.clone()),
    };
    // No paths: the project found from here upwards (like build), else ./dist of zips.
    let paths = match args.paths.is_empty() {
        true => match super::project::find_from_cwd() {
            Ok(root) => vec![root],
            Err(_) if PathBuf::from("dist").is_dir() => vec![PathBuf::from("dist")],
            Err(error) => return Err(error),
        },
        false => args.paths.clone(),
    };
    let format = if args.json { Format::Json } else { args.format };
    let report = lint::run(&paths, &options, cache.as_ref())?;
    let text = match format {
        Format::Human => lint::output::human(&report),
        Format::Json => lint::output::json(&report),
        Format::Sarif => lint::sarif::sarif(&report),
        Format::Markdown => crate::report::lint_markdown(&report)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| crate::Error::io(path, e))?,
        None => print!("{text}"),
    }
    if format != Format::Human {
        for notice in &report.notices {
            crate::terminal::note(format!("notice: {notice}"));
        }
    }
    Ok(if report.count_at_least(deny.severity()) > 0 {
        ExitCode::from(super::EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    })
}

/// The allow lists of the project's i3s-lint.toml (the project found from here upwards, as
/// `build` finds it), else of ./i3s-lint.toml, else none.
pub(crate) fn config_from_cwd() -> crate::Result<Config> {
    let project = super::project::find_from_cwd().ok();
    let candidates = project
        .iter()
        .map(|root| root.join(lint::config::FILE_NAME))
        .chain([PathBuf::from(lint::config::FILE_NAME)]);
    for path in candidates {
        if path.is_file() {
            return Config::load(&path);
        }
    }
    Ok(Config::default())
}
