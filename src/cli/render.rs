use crate::build::render_plan_script;
use crate::render::{extract_files, write_files};
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
    /// A file of attribute values (keeps secrets off the command line): NAME=VALUE lines, a JSON
    /// object or a TOML table; `--attr` wins.
    #[arg(long = "attrs-file", alias = "attrs", value_name = "FILE")]
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
    let values = crate::render::attribute_values(args.attrs_file.as_deref(), &args.attrs)?;
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
