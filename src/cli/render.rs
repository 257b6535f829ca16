use crate::build::render_plan_script;
use crate::render::{extract_files, write_files};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The rendered plan script.
    Text,
    /// The files its `upload` here-documents would place in the image (needs --out).
    Files,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle: file stem in bundles-src/ or its [bundle] name.
    pub bundle: String,
    /// The plan script: artifact name, template (e.g. nic-bond) or plan-scripts/ file stem.
    pub plan_script: String,
    /// Substitute a placeholder as the appliance would (repeatable).
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attrs: Vec<String>,
    /// Read NAME=VALUE lines from a file (keeps secrets off the command line); `--attr` wins.
    #[arg(long, value_name = "FILE")]
    pub attrs_file: Option<PathBuf>,
    /// What to print: the rendered script, or the files it would upload.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Where `--format files` writes (created as needed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub root: super::project::RootArg,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let mut values = BTreeMap::new();
    if let Some(file) = &args.attrs_file {
        let text = std::fs::read_to_string(file).map_err(|e| crate::Error::io(file, e))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echo the line: it may hold a secret.
            let (name, value) = line.split_once('=').ok_or_else(|| {
                crate::Error::Usage(format!("{}:{}: expected NAME=VALUE", file.display(), n + 1))
            })?;
            values.insert(name.trim().to_string(), value.to_string());
        }
    }
    for pair in &args.attrs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| crate::Error::Usage(format!("--attr {pair:?}: expected NAME=VALUE")))?;
        values.insert(name.to_string(), value.to_string());
    }
    let root = args.root.resolve()?;
    // A source error is an outcome (exit 1); bad arguments stay usage errors (exit 2).
    let rendered =
        render_plan_script(&root, &args.bundle, &args.plan_script).map_err(|e| match e {
            e @ crate::Error::Usage(_) => e,
            e => e.failed(),
        })?;
    let content = if values.is_empty() && args.format == Format::Text {
        rendered.script().content.clone()
    } else {
        rendered.substitute(&values)?
    };
    match args.format {
        Format::Text => println!("{content}"),
        Format::Files => {
            let out = args
                .out
                .ok_or_else(|| crate::Error::Usage("--format files needs --out DIR".into()))?;
            let label = PathBuf::from(format!("{} (rendered)", rendered.script().name));
            let plan = extract_files(&content, &label)?;
            write_files(&plan, &out, &label)?;
            for f in &plan.files {
                println!(
                    "{:04o}  {}  ({} bytes)",
                    f.mode.unwrap_or(0o644),
                    f.path,
                    f.content.len()
                );
            }
            for l in &plan.symlinks {
                println!("link  {} -> {}", l.link, l.target);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
