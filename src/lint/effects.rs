//! What a sequence of plan scripts does to the image: files written, modes set, links made.
//! Shared by the systemd, contracts and secrets rules.
use super::target::ScriptView;
use crate::guestfish::commands;

/// Where in the steps something happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// 0-based step index in the sequence.
    pub step: usize,
    /// 1-based content line in that step's plan script.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct FileWrite<'v> {
    pub path: String,
    /// The content when known (here-documents and `write`).
    pub content: Option<String>,
    /// 1-based content line of the first body line (here-documents).
    pub body_line: Option<usize>,
    pub at: At,
    pub view: &'v ScriptView<'v>,
}

#[derive(Debug, Clone)]
pub struct Chmod {
    pub path: String,
    pub mode: Option<u32>,
    pub at: At,
}

#[derive(Debug, Clone)]
pub struct Link<'v> {
    pub target: String,
    pub link: String,
    pub at: At,
    pub view: &'v ScriptView<'v>,
}

/// Everything the steps do, in order.
#[derive(Debug, Clone, Default)]
pub struct Effects<'v> {
    pub files: Vec<FileWrite<'v>>,
    pub chmods: Vec<Chmod>,
    pub links: Vec<Link<'v>>,
    pub dirs: Vec<(String, At)>,
}

impl<'v> Effects<'v> {
    /// Collects the effects of the given steps (in order).
    pub fn of(steps: &[&'v ScriptView<'v>]) -> Self {
        let mut effects = Effects::default();
        for (step, view) in steps.iter().enumerate() {
            for command in &view.parsed.commands {
                let (name, args) = commands::unprefix(&command.name, &command.args);
                let at = At {
                    step,
                    line: command.line,
                };
                match (name, args) {
                    ("upload", [_, remote]) => effects.files.push(FileWrite {
                        path: remote.clone(),
                        content: command.heredoc.as_ref().map(|d| d.file_content()),
                        body_line: command.heredoc.as_ref().map(|d| d.body_line),
                        at,
                        view,
                    }),
                    ("write" | "write-append", [path, content]) => effects.files.push(FileWrite {
                        path: path.clone(),
                        content: Some(content.clone()),
                        body_line: None,
                        at,
                        view,
                    }),
                    ("touch", [path]) => effects.files.push(FileWrite {
                        path: path.clone(),
                        content: None,
                        body_line: None,
                        at,
                        view,
                    }),
                    ("chmod", [mode, path]) => effects.chmods.push(Chmod {
                        path: path.clone(),
                        mode: u32::from_str_radix(mode, 8).ok(),
                        at,
                    }),
                    ("ln-s" | "ln-sf" | "ln" | "ln-f", [target, link]) => {
                        effects.links.push(Link {
                            target: target.clone(),
                            link: link.clone(),
                            at,
                            view,
                        })
                    }
                    ("mkdir" | "mkdir-p" | "mkdir-mode", [path, ..]) => {
                        effects.dirs.push((path.clone(), at))
                    }
                    _ => {}
                }
            }
        }
        effects
    }

    /// The last write of a path.
    pub fn file(&self, path: &str) -> Option<&FileWrite<'v>> {
        self.files.iter().rev().find(|f| f.path == path)
    }

    /// Whether the path is made executable (a chmod with an x bit).
    pub fn executable(&self, path: &str) -> bool {
        self.chmods
            .iter()
            .any(|c| c.path == path && c.mode.is_some_and(|m| m & 0o111 != 0))
    }

    /// The mode last set on the path.
    pub fn mode(&self, path: &str) -> Option<u32> {
        self.chmods
            .iter()
            .rev()
            .find(|c| c.path == path)
            .and_then(|c| c.mode)
    }
}

/// The file name part of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
