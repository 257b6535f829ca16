//! A tolerant parser for guestfish plan scripts.
//!
//! Follows what guestfish itself does (see `docs/guestfish.md`):
//! - one command per line; blank lines and lines whose first non-blank character is `#` are
//!   skipped;
//! - a leading `-` means "ignore this command's error";
//! - words are separated by blanks; `"…"` quotes with backslash escapes, `'…'` quotes literally;
//! - an argument `-<<TAG` starts a here-document: the following lines up to a line that is
//!   exactly `TAG` are the content (literal, no expansion; guestfish adds a final newline);
//! - three forms reach the host's shell, not the image (guestfish(1), "RUNNING COMMANDS
//!   LOCALLY", "LOCAL COMMANDS WITH INLINE EXECUTION", "PIPES"): a line starting with `!`, a line
//!   starting with `<!`, and an unquoted argument starting with `|` (the rest of the line is a
//!   host command). They are recorded in [`Command::host_shell`]; [`super::host`] judges them.
//!
//! Problems never abort parsing: each becomes a [`ParseProblem`] and parsing goes on with the
//! most likely intent, so a linter can report everything at once.
use serde::Serialize;

/// A parsed plan script.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Script {
    pub commands: Vec<Command>,
    pub problems: Vec<ParseProblem>,
}

/// One guestfish command line (with its here-document, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// 1-based line of the command in the script.
    pub line: usize,
    /// The command had a leading `-`.
    pub ignore_errors: bool,
    pub name: String,
    /// The arguments after the name, unquoted. A here-document argument stays `-<<TAG`.
    pub args: Vec<String>,
    pub heredoc: Option<HereDoc>,
    /// The part of the line guestfish hands to the host's shell (`!…`, `<!…`, `… | cmd`).
    pub host_shell: Option<HostShell>,
}

/// A line, or the end of one, that guestfish runs with the host's shell (`system(3)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum HostShell {
    /// `!cmd`: the line is a host shell command. The command's name is `!`.
    Bang { command: String },
    /// `<!cmd`: a host shell command whose output guestfish runs as commands. Name `<!`.
    Inline { command: String },
    /// `cmd args | host-cmd`: the guestfish command's output is piped to a host command.
    Pipe { command: String },
}

impl HostShell {
    /// How the construct is written, for messages.
    pub fn form(&self) -> &'static str {
        match self {
            HostShell::Bang { .. } => "!",
            HostShell::Inline { .. } => "<!",
            HostShell::Pipe { .. } => "|",
        }
    }
    /// The host command.
    pub fn command(&self) -> &str {
        match self {
            HostShell::Bang { command }
            | HostShell::Inline { command }
            | HostShell::Pipe { command } => command,
        }
    }
}

/// The content of an `upload -<<TAG path` here-document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HereDoc {
    pub tag: String,
    /// The argument after `-<<TAG` (the target path for `upload`), `""` when there is none.
    pub path: String,
    /// The lines between the command and the terminator, joined by `\n`, without a final
    /// newline. The file guestfish writes is [`HereDoc::file_content`].
    pub body: String,
    /// 1-based line of the first body line (the line after the command).
    pub body_line: usize,
    /// 1-based line of the terminator; `None` when the here-document is never closed (it then
    /// runs to the end of the script, as in guestfish).
    pub end_line: Option<usize>,
}

impl HereDoc {
    /// The bytes guestfish writes: the body plus the final newline it adds.
    pub fn file_content(&self) -> String {
        format!("{}\n", self.body)
    }
    /// The body's lines with their 1-based script line numbers.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.body
            .split('\n')
            .enumerate()
            .map(|(i, l)| (self.body_line + i, l))
    }
}

/// Something guestfish would reject or that is almost certainly a mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters), when it points inside the line.
    pub column: Option<usize>,
    pub kind: ProblemKind,
    pub message: String,
}

/// What kind of problem; lets callers pick severities and rule ids without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemKind {
    /// `-<<TAG` without a terminating `TAG` line: guestfish swallows the rest of the script.
    UnterminatedHereDoc { tag: String },
    /// An `upload -<<` line inside a here-document body.
    NestedHereDoc { tag: String },
    /// `upload - <<TAG`: guestfish rejects the space.
    SpacedHereDoc,
    /// `-<<` with no tag word.
    EmptyHereDocTag,
    /// A line inside the body equals the tag apart from surrounding blanks: it does not end
    /// the here-document.
    TerminatorNotAlone { tag: String },
    /// A `\r` (CRLF line endings): guestfish fails on every such line.
    CarriageReturn,
    /// A quote opened and never closed on its line.
    UnterminatedQuote,
    /// A closing quote followed directly by more text (`"a"b`).
    QuoteNotSeparated,
}

/// Parses a plan script. Never fails; see [`Script::problems`].
pub fn parse(text: &str) -> Script {
    let mut script = Script::default();
    let lines = split_lines(text, &mut script.problems);
    let mut index = 0;
    while index < lines.len() {
        let line_no = index + 1;
        let line = lines[index];
        index += 1;
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let (ignore_errors, rest, rest_offset) = match trimmed.strip_prefix('-') {
            Some(rest) => {
                let after = rest.trim_start_matches([' ', '\t']);
                (true, after, indent + 1 + (rest.len() - after.len()))
            }
            None => (false, trimmed, indent),
        };
        if let Some(command) = local_command(rest, line_no, ignore_errors) {
            script.commands.push(command);
            continue;
        }
        let (words, pipe) = split_words(rest, line_no, rest_offset, line, &mut script.problems);
        let Some((name, args)) = words.split_first() else {
            continue;
        };
        let mut command = Command {
            line: line_no,
            ignore_errors,
            name: name.clone(),
            args: args.to_vec(),
            heredoc: None,
            host_shell: pipe.map(|command| HostShell::Pipe { command }),
        };
        let Some((tag_index, tag)) = heredoc_tag(args, line, line_no, &mut script.problems) else {
            script.commands.push(command);
            continue;
        };
        let path = args.get(tag_index + 1).cloned().unwrap_or_default();
        let (body, end_line) = heredoc_body(
            &lines,
            &mut index,
            &tag,
            line,
            line_no,
            &mut script.problems,
        );
        command.heredoc = Some(HereDoc {
            tag,
            path,
            body,
            body_line: line_no + 1,
            end_line,
        });
        script.commands.push(command);
    }
    script
}

/// The lines without a trailing `\r`; any `\r` is one problem (at its first line).
fn split_lines<'a>(text: &'a str, problems: &mut Vec<ParseProblem>) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    let mut cr_lines = Vec::new();
    for (i, line) in lines.iter_mut().enumerate() {
        if let Some(stripped) = line.strip_suffix('\r') {
            *line = stripped;
            cr_lines.push(i + 1);
        } else if line.contains('\r') {
            cr_lines.push(i + 1);
        }
    }
    if let Some(&first) = cr_lines.first() {
        problems.push(ParseProblem {
            line: first,
            column: None,
            kind: ProblemKind::CarriageReturn,
            message: format!(
                "carriage return (CRLF line ending) on {} line(s), first here: guestfish reads `cmd\\r` and fails",
                cr_lines.len()
            ),
        });
    }
    lines
}

/// A `!cmd` or `<!cmd` line: run by the host's shell.
fn local_command(rest: &str, line_no: usize, ignore_errors: bool) -> Option<Command> {
    // guestfish checks for `!` before and after the `-` flag (fish.c: `goto again`).
    let (form, inline, shell) = [("<!", true), ("!", false)]
        .into_iter()
        .find_map(|(form, inline)| rest.strip_prefix(form).map(|c| (form, inline, c)))?;
    let command = shell.trim().to_string();
    Some(Command {
        line: line_no,
        ignore_errors,
        name: form.to_string(),
        args: Vec::new(),
        heredoc: None,
        host_shell: Some(if inline {
            HostShell::Inline { command }
        } else {
            HostShell::Bang { command }
        }),
    })
}

/// Here-document start: `-<<TAG`, or the rejected spaced form `- <<TAG` (a problem). Returns
/// the index of the tag argument and the tag; `None` without one, or with an empty tag (a
/// problem).
fn heredoc_tag(
    args: &[String],
    line: &str,
    line_no: usize,
    problems: &mut Vec<ParseProblem>,
) -> Option<(usize, String)> {
    let heredoc_start = args
        .iter()
        .position(|a| a.starts_with("-<<"))
        .map(|i| (i, args[i][3..].to_string()));
    let spaced = args
        .windows(2)
        .position(|w| w[0] == "-" && w[1].starts_with("<<"));
    let (tag_index, tag) = match (heredoc_start, spaced) {
        (Some(found), _) => found,
        (None, Some(i)) => {
            problems.push(ParseProblem {
                line: line_no,
                column: column_of(line, "- <<"),
                kind: ProblemKind::SpacedHereDoc,
                message:
                    "`- <<` with a space: guestfish rejects it; write `-<<TAG` without a space"
                        .into(),
            });
            (i + 1, args[i + 1][2..].to_string())
        }
        (None, None) => return None,
    };
    if tag.is_empty() {
        problems.push(ParseProblem {
            line: line_no,
            column: column_of(line, "<<"),
            kind: ProblemKind::EmptyHereDocTag,
            message: "here-document without a tag: write `-<<END` with the tag attached".into(),
        });
        return None;
    }
    Some((tag_index, tag))
}

/// Reads a here-document body from `lines[*index..]` up to the `tag` line, advancing `index`
/// past it; returns the body and the terminator's line (`None`: never closed, a problem).
fn heredoc_body(
    lines: &[&str],
    index: &mut usize,
    tag: &str,
    line: &str,
    line_no: usize,
    problems: &mut Vec<ParseProblem>,
) -> (String, Option<usize>) {
    let body_start = *index;
    let mut end_line = None;
    while *index < lines.len() {
        let body_line = lines[*index];
        *index += 1;
        if body_line == tag {
            end_line = Some(*index);
            break;
        }
        body_line_problems(body_line, *index, tag, line_no, problems);
    }
    let body_end = match end_line {
        Some(end) => end - 1,
        None => {
            problems.push(ParseProblem {
                line: line_no,
                column: column_of(line, "<<"),
                kind: ProblemKind::UnterminatedHereDoc {
                    tag: tag.to_string(),
                },
                message: format!(
                    "here-document `{tag}` is never closed: guestfish swallows everything after this line (\"end of input reached without finding '{tag}'\")"
                ),
            });
            lines.len()
        }
    };
    (
        lines[body_start.min(body_end)..body_end].join("\n"),
        end_line,
    )
}

/// A body line that looks like the terminator with blanks, or a nested `upload -<<`.
fn body_line_problems(
    body_line: &str,
    body_line_no: usize,
    tag: &str,
    line_no: usize,
    problems: &mut Vec<ParseProblem>,
) {
    if body_line.trim() == tag {
        problems.push(ParseProblem {
            line: body_line_no,
            column: None,
            kind: ProblemKind::TerminatorNotAlone {
                tag: tag.to_string(),
            },
            message: format!(
                "`{}` looks like the terminator of the here-document opened on line {line_no} but has blanks around it, so it does not end it",
                tag
            ),
        });
    }
    let body_trimmed = body_line.trim_start_matches([' ', '\t']);
    let body_cmd = body_trimmed.strip_prefix('-').unwrap_or(body_trimmed);
    if (body_cmd.starts_with("upload ") || body_cmd.starts_with("upload\t"))
        && body_cmd.contains("<<")
    {
        problems.push(ParseProblem {
            line: body_line_no,
            column: column_of(body_line, "upload"),
            kind: ProblemKind::NestedHereDoc {
                tag: tag.to_string(),
            },
            message: format!(
                "`upload` with a here-document inside the here-document opened on line {line_no}: the outer body ends at the first `{tag}` line"
            ),
        });
    }
}

fn column_of(line: &str, needle: &str) -> Option<usize> {
    line.find(needle)
        .map(|byte| line[..byte].chars().count() + 1)
}

/// Splits a command line into words as guestfish does; an unquoted word starting with `|` ends
/// the words, and the rest of the line (after the `|`) is returned as the host pipe command.
fn split_words(
    text: &str,
    line_no: usize,
    offset: usize,
    line: &str,
    problems: &mut Vec<ParseProblem>,
) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut chars = text.char_indices().peekable();
    let column = |byte: usize| Some(line[..(offset + byte).min(line.len())].chars().count() + 1);
    loop {
        while chars.next_if(|(_, c)| *c == ' ' || *c == '\t').is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            break;
        };
        if first == '|' {
            return (words, Some(text[start + 1..].trim().to_string()));
        }
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                if c == first {
                    closed = true;
                    break;
                }
                if c == '\\' && first == '"' {
                    match chars.next() {
                        Some((_, 'n')) => word.push('\n'),
                        Some((_, 't')) => word.push('\t'),
                        Some((_, 'r')) => word.push('\r'),
                        Some((_, other)) => word.push(other),
                        None => word.push('\\'),
                    }
                } else {
                    word.push(c);
                }
            }
            if !closed {
                problems.push(ParseProblem {
                    line: line_no,
                    column: column(start),
                    kind: ProblemKind::UnterminatedQuote,
                    message: format!("unterminated {first} quote"),
                });
            } else if let Some(&(at, c)) = chars.peek()
                && c != ' '
                && c != '\t'
            {
                problems.push(ParseProblem {
                    line: line_no,
                    column: column(at),
                    kind: ProblemKind::QuoteNotSeparated,
                    message:
                        "closing quote followed by text: guestfish wants blanks between arguments"
                            .into(),
                });
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != ' ' && *c != '\t') {
                word.push(c);
            }
        }
        words.push(word);
    }
    (words, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(script: &Script) -> Vec<&ProblemKind> {
        script.problems.iter().map(|p| &p.kind).collect()
    }

    #[test]
    fn commands_comments_flags_and_quotes() {
        let s = parse(
            "# c\n\n  mount /dev/cl/root /\n-statvfs /\necho \"a b\" 'c \\d' e\\f\n- rm-f /x",
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.commands.len(), 4);
        assert_eq!(
            (s.commands[0].line, s.commands[0].name.as_str()),
            (3, "mount")
        );
        assert_eq!(s.commands[0].args, ["/dev/cl/root", "/"]);
        assert!(s.commands[1].ignore_errors && !s.commands[0].ignore_errors);
        assert_eq!(s.commands[2].args, ["a b", "c \\d", "e\\f"]);
        assert_eq!(
            (s.commands[3].name.as_str(), s.commands[3].ignore_errors),
            ("rm-f", true)
        );
    }

    #[test]
    fn heredoc_body_lines_and_terminator() {
        let s = parse("upload -<<END /etc/x\n  a $HOME\n\nb\nEND\nchmod 0755 /etc/x");
        assert!(s.problems.is_empty());
        let doc = s.commands[0].heredoc.as_ref().unwrap();
        assert_eq!((doc.tag.as_str(), doc.path.as_str()), ("END", "/etc/x"));
        assert_eq!(doc.body, "  a $HOME\n\nb");
        assert_eq!(doc.file_content(), "  a $HOME\n\nb\n");
        assert_eq!((doc.body_line, doc.end_line), (2, Some(5)));
        assert_eq!(doc.lines().nth(2), Some((4, "b")));
        assert_eq!(
            (s.commands[1].name.as_str(), s.commands[1].line),
            ("chmod", 6)
        );
    }

    #[test]
    fn empty_heredoc_body() {
        let s = parse("upload -<<EOF /e\nEOF");
        let doc = s.commands[0].heredoc.as_ref().unwrap();
        assert_eq!((doc.body.as_str(), doc.end_line), ("", Some(2)));
    }

    #[test]
    fn unterminated_heredoc_swallows_the_rest() {
        let s = parse("upload -<<END /a\nx\nEND \numount /");
        assert_eq!(s.commands.len(), 1);
        let doc = s.commands[0].heredoc.as_ref().unwrap();
        assert_eq!(
            (doc.end_line, doc.body.as_str()),
            (None, "x\nEND \numount /")
        );
        assert!(matches!(
            kinds(&s)[..],
            [
                ProblemKind::TerminatorNotAlone { .. },
                ProblemKind::UnterminatedHereDoc { .. }
            ]
        ));
        assert_eq!(s.problems[0].line, 3);
        assert_eq!(s.problems[1].line, 1);
    }

    #[test]
    fn nested_upload_is_reported_at_its_line() {
        let s = parse(
            "upload -<<END /a.sh\n#!/bin/bash\nupload -<<END /b\nx\nEND\nupload -<<END /a.sh\ny\nEND",
        );
        assert_eq!(s.commands.len(), 2);
        assert_eq!(s.problems.len(), 1);
        assert_eq!((s.problems[0].line, s.problems[0].column), (3, Some(1)));
        assert!(matches!(&s.problems[0].kind, ProblemKind::NestedHereDoc { tag } if tag == "END"));
        assert_eq!(s.commands[1].line, 6);
    }

    #[test]
    fn spaced_heredoc_and_empty_tag() {
        let s = parse("upload - <<END /a\nx\nEND\nupload -<< /b");
        assert!(matches!(
            kinds(&s)[..],
            [ProblemKind::SpacedHereDoc, ProblemKind::EmptyHereDocTag]
        ));
        assert_eq!(s.commands[0].heredoc.as_ref().unwrap().body, "x");
        assert_eq!(s.problems[1].line, 4);
    }

    #[test]
    fn crlf_is_reported_once_and_stripped() {
        let s = parse("mount /dev/cl/root /\r\numount /\r\n");
        assert_eq!(s.problems.len(), 1);
        assert_eq!(
            (s.problems[0].line, &s.problems[0].kind),
            (1, &ProblemKind::CarriageReturn)
        );
        assert_eq!(s.commands[1].args, ["/"]);
    }

    #[test]
    fn quote_problems() {
        let s = parse("echo \"abc\necho 'a'b");
        assert_eq!(
            kinds(&s),
            [
                &ProblemKind::UnterminatedQuote,
                &ProblemKind::QuoteNotSeparated
            ]
        );
        assert_eq!(s.problems[1].column, Some(9));
    }

    #[test]
    fn host_shell_forms() {
        let s = parse(
            "!touch /x\n - <! echo ls /\ncat /etc/passwd | awk -F: '{print}'\necho \"|\" a|b\n-!id",
        );
        let forms: Vec<_> = s
            .commands
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.host_shell.as_ref().map(|h| (h.form(), h.command())),
                )
            })
            .collect();
        assert_eq!(
            forms,
            [
                ("!", Some(("!", "touch /x"))),
                ("<!", Some(("<!", "echo ls /"))),
                ("cat", Some(("|", "awk -F: '{print}'"))),
                ("echo", None),
                ("!", Some(("!", "id"))),
            ]
        );
        assert_eq!(s.commands[2].args, ["/etc/passwd"]);
        assert_eq!(s.commands[3].args, ["|", "a|b"]);
        assert!(s.commands[1].ignore_errors && s.commands[4].ignore_errors);
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let script = "-upload -<<END /a\n\"x\" 'y\n upload - <<E\r\nEND \nEND\necho \"é\\\"\" 'ü'z\nupload -<<\n";
        for (at, _) in script.char_indices() {
            let parsed = parse(&script[..at]);
            for problem in &parsed.problems {
                assert!(problem.line >= 1 && problem.line <= script[..at].split('\n').count());
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "",
            "-",
            "- ",
            "\"",
            "'",
            "-<<",
            "upload -<<",
            "x -<<E",
            "\r",
            "é -<<É /ü\n\"é",
            "\\",
            "a \\",
        ] {
            let _ = parse(text);
        }
    }
}
