//! A plan script as the page shows it: guestfish syntax marked from the parser's own reading
//! ([`crate::guestfish::parse`]: which lines are commands, comments, here-document bodies and
//! host-shell lines; the command table says whether a name is a guestfish command), here-documents
//! shown as the files they write (path, mode), placeholders marked with the attribute they name.
use crate::guestfish::{Command, Script, commands};
use crate::lint::effects::Effects;
use crate::lint::target::ScriptView;
use serde::Serialize;

/// A run of text with one role: `cmd`, `unknown` (not a guestfish command), `flag` (the leading
/// `-`), `str` (quoted), `heredoc` (`-<<TAG`), `host` (reaches the host's shell), `comment`,
/// `ph` (a placeholder, with its attribute name), `text`.
#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub class: &'static str,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub number: usize,
    pub spans: Vec<Span>,
}

/// Consecutive command lines, or the file one here-document writes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    Code {
        lines: Vec<Line>,
    },
    File {
        path: String,
        /// The mode a later `chmod` in the script gives it (octal), else `None`.
        mode: Option<String>,
        tag: String,
        lines: Vec<Line>,
        closed: bool,
    },
}

/// The script as blocks: code lines, with each here-document body lifted into a file block
/// after its command line (the terminator line is left out: the block's end shows it).
pub fn blocks(view: &ScriptView) -> Vec<Block> {
    let content = &view.script.content;
    let lines: Vec<&str> = content.split('\n').collect();
    let parsed: &Script = &view.parsed;
    let effects = Effects::of(&[view]);
    let mut by_line: Vec<Option<&Command>> = vec![None; lines.len() + 1];
    for command in &parsed.commands {
        if command.line <= lines.len() {
            by_line[command.line] = Some(command);
        }
    }
    let mut out = Vec::new();
    let mut code = Vec::new();
    let mut number = 1;
    while number <= lines.len() {
        let raw = lines[number - 1].trim_end_matches('\r');
        let command = by_line[number];
        code.push(Line {
            number,
            spans: match command {
                Some(c) => command_spans(raw, c),
                None => plain_line(raw),
            },
        });
        number += 1;
        let Some(doc) = command.and_then(|c| c.heredoc.as_ref()) else {
            continue;
        };
        out.push(Block::Code {
            lines: std::mem::take(&mut code),
        });
        let body: Vec<Line> = doc
            .lines()
            .map(|(n, text)| Line {
                number: n,
                spans: with_placeholders("text", text.trim_end_matches('\r')),
            })
            .collect();
        number = doc.end_line.map_or(lines.len() + 1, |end| end + 1);
        out.push(Block::File {
            path: doc.path.clone(),
            mode: effects.mode(&doc.path).map(|m| format!("{m:04o}")),
            tag: doc.tag.clone(),
            lines: if doc.body.is_empty() && doc.body_line == doc.end_line.unwrap_or(0) {
                Vec::new()
            } else {
                body
            },
            closed: doc.end_line.is_some(),
        });
    }
    // A trailing empty line is the content's final newline, not a line of the script.
    if code.last().is_some_and(|l| l.spans.is_empty()) && content.ends_with('\n') {
        code.pop();
    }
    if !code.is_empty() {
        out.push(Block::Code { lines: code });
    }
    out
}

/// A line that is no command: blank, a comment, or text the parser could not read as one.
fn plain_line(raw: &str) -> Vec<Span> {
    if raw.trim_start().starts_with('#') {
        with_placeholders("comment", raw)
    } else {
        with_placeholders("text", raw)
    }
}

/// A command line: indentation, the `-` flag, the name (known to guestfish or not), then the
/// arguments with quoted strings and the here-document marker; host-shell lines whole.
fn command_spans(raw: &str, command: &Command) -> Vec<Span> {
    let mut spans = Vec::new();
    let trimmed = raw.trim_start_matches([' ', '\t']);
    push(&mut spans, "text", &raw[..raw.len() - trimmed.len()]);
    let mut rest = trimmed;
    if command.ignore_errors && rest.starts_with('-') {
        push(&mut spans, "flag", "-");
        rest = &rest[1..];
    }
    if command.host_shell.is_some() && matches!(command.name.as_str(), "!" | "<!") {
        spans.extend(with_placeholders("host", rest));
        return spans;
    }
    let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    push(&mut spans, "text", &rest[..blanks]);
    rest = &rest[blanks..];
    let name_end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let class = if commands::lookup(&rest[..name_end]).is_some() {
        "cmd"
    } else {
        "unknown"
    };
    push(&mut spans, class, &rest[..name_end]);
    spans.extend(argument_spans(&rest[name_end..], command));
    spans
}

/// The arguments' text: quoted strings, the here-document marker, and a `| host` pipe.
fn argument_spans(text: &str, command: &Command) -> Vec<Span> {
    let mut spans = Vec::new();
    let tag = command.heredoc.as_ref().map(|d| format!("-<<{}", d.tag));
    let mut plain = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at_word = i == 0 || text[..i].ends_with([' ', '\t']);
        if at_word && tag.as_deref().is_some_and(|t| text[i..].starts_with(t)) {
            let t = tag.as_deref().unwrap_or_default();
            flush(&mut spans, &mut plain, "text");
            push(&mut spans, "heredoc", t);
            for _ in 1..t.chars().count() {
                chars.next();
            }
        } else if at_word && c == '|' && command.host_shell.is_some() {
            flush(&mut spans, &mut plain, "text");
            spans.extend(with_placeholders("host", &text[i..]));
            return spans;
        } else if c == '"' || c == '\'' {
            flush(&mut spans, &mut plain, "text");
            let mut quoted = String::from(c);
            while let Some((_, q)) = chars.next() {
                quoted.push(q);
                if q == '\\' && c == '"' {
                    if let Some((_, escaped)) = chars.next() {
                        quoted.push(escaped);
                    }
                } else if q == c {
                    break;
                }
            }
            spans.extend(with_placeholders("str", &quoted));
        } else {
            plain.push(c);
        }
    }
    flush(&mut spans, &mut plain, "text");
    spans
}

fn flush(spans: &mut Vec<Span>, plain: &mut String, class: &'static str) {
    if !plain.is_empty() {
        spans.extend(with_placeholders(class, plain));
        plain.clear();
    }
}

fn push(spans: &mut Vec<Span>, class: &'static str, text: &str) {
    if !text.is_empty() {
        spans.push(Span {
            class,
            text: text.to_string(),
            attribute: None,
        });
    }
}

/// `text` as spans of `class`, with each placeholder (`crate::placeholder`'s syntax) its own span.
fn with_placeholders(class: &'static str, text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    if !text.contains('@') {
        push(&mut spans, class, text);
        return spans;
    }
    let mut at = 0;
    for p in crate::placeholder::scan(text) {
        push(&mut spans, class, &text[at..p.offset]);
        let end = text[p.offset + 1..]
            .find('@')
            .map_or(text.len(), |e| p.offset + 1 + e + 1);
        spans.push(Span {
            class: "ph",
            text: text[p.offset..end].to_string(),
            attribute: Some(p.name.clone()),
        });
        at = end;
    }
    push(&mut spans, class, &text[at..]);
    spans
}

impl Block {
    pub fn lines(&self) -> &[Line] {
        match self {
            Block::Code { lines } | Block::File { lines, .. } => lines,
        }
    }
}

/// The page's class of a span: one or two letters, because a page of thousands of scripts
/// repeats them for every token (page.html's style sheet spells them out).
fn short_class(class: &str) -> &'static str {
    match class {
        "cmd" => "c",
        "unknown" => "u",
        "flag" => "f",
        "str" => "s",
        "heredoc" => "h",
        "host" => "x",
        "comment" => "m",
        _ => "",
    }
}

/// Lines as page markup: one `<pre>` whose line numbers are one attribute (`data-ln`, shown by the
/// style sheet as a column beside the code, left out of copied text and of what a screen reader
/// reads), not an element per line; a run of text with one role is one `<span>` (plain text
/// none), and a placeholder links to its attribute row (`{plan}-attr-{NAME}`) when `known` says
/// the plan has that attribute, else is marked as naming none. Escaped as the template escapes
/// text (`&`, `<`, `>`, quotes).
pub fn code_html(lines: &[Line], plan: &str, known: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(64 + lines.len() * 48);
    out.push_str("<pre tabindex=\"0\"");
    if !lines.is_empty() {
        out.push_str(" data-ln=\"");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&line.number.to_string());
        }
        out.push('"');
    }
    out.push_str("><code>");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        line_html(&mut out, &line.spans, plan, &known);
    }
    out.push_str("</code></pre>");
    out
}

fn line_html(out: &mut String, spans: &[Span], plan: &str, known: &impl Fn(&str) -> bool) {
    let mut open: &str = "";
    for span in spans {
        let class = short_class(span.class);
        if class != open && !open.is_empty() {
            out.push_str("</span>");
            open = "";
        }
        if let Some(name) = span.attribute.as_deref().filter(|_| span.class == "ph") {
            if known(name) {
                out.push_str("<a class=\"ph\" href=\"#");
                escape(out, plan);
                out.push_str("-attr-");
                escape(out, name);
                out.push_str("\">");
                escape(out, &span.text);
                out.push_str("</a>");
            } else {
                out.push_str("<mark class=\"ph\" title=\"no attribute ");
                escape(out, name);
                out.push_str(" in this build plan\">");
                escape(out, &span.text);
                out.push_str("</mark>");
            }
            continue;
        }
        if class != open {
            out.push_str("<span class=\"");
            out.push_str(class);
            out.push_str("\">");
            open = class;
        }
        escape(out, &span.text);
    }
    if !open.is_empty() {
        out.push_str("</span>");
    }
}

/// HTML escaping for text and quoted attribute values.
pub fn escape(out: &mut String, text: &str) {
    let mut at = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[at..i]);
        out.push_str(entity);
        at = i + 1;
    }
    out.push_str(&text[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::PlanScript;
    use crate::lint::target::Origin;

    fn view(content: &str) -> Vec<Block> {
        let script = PlanScript::new(
            "id".into(),
            "s".into(),
            String::new(),
            "deploy",
            content.into(),
        );
        let v = ScriptView {
            script: &script,
            parsed: crate::guestfish::parse(content),
            origin: Origin::zip_entry("x.zip", "e"),
            allows: Vec::new(),
        };
        blocks(&v)
    }

    #[test]
    fn here_documents_become_files_with_their_mode_and_placeholders_are_marked() {
        let blocks = view(
            "# set up\n-mount /dev/x /\nupload -<<END /etc/a.sh\necho @NAME:dflt@\nEND\nchmod 0755 /etc/a.sh\nfrobnicate \"q @X@\"\n",
        );
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        let Block::Code { lines } = &blocks[0] else {
            panic!()
        };
        assert_eq!(lines[0].spans[0].class, "comment");
        let classes: Vec<&str> = lines[1].spans.iter().map(|s| s.class).collect();
        assert_eq!(&classes[..2], ["flag", "cmd"]);
        assert!(
            lines[2]
                .spans
                .iter()
                .any(|s| s.class == "heredoc" && s.text == "-<<END")
        );
        let Block::File {
            path,
            mode,
            lines,
            closed,
            ..
        } = &blocks[1]
        else {
            panic!()
        };
        assert_eq!(
            (path.as_str(), mode.as_deref(), *closed),
            ("/etc/a.sh", Some("0755"), true)
        );
        let ph = lines[0].spans.iter().find(|s| s.class == "ph").unwrap();
        assert_eq!(
            (ph.text.as_str(), ph.attribute.as_deref()),
            ("@NAME:dflt@", Some("NAME"))
        );
        let Block::Code { lines } = &blocks[2] else {
            panic!()
        };
        assert_eq!(lines[0].number, 6);
        assert_eq!(lines[1].spans[0].class, "unknown");
        assert!(
            lines[1]
                .spans
                .iter()
                .any(|s| s.class == "ph" && s.attribute.as_deref() == Some("X"))
        );
    }

    #[test]
    fn markup_has_a_number_column_one_span_per_run_and_escapes_text() {
        let blocks = view("-mount <x> /\n# a \"b\" & c\nfrobnicate \"q @X@\" '@Y@'\n");
        let html = code_html(blocks[0].lines(), "bp3", |n| n == "X");
        assert!(
            html.starts_with("<pre tabindex=\"0\" data-ln=\"1\n2\n3\"><code>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"f\">-</span><span class=\"c\">mount</span> &lt;x&gt; /\n"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"m\"># a &quot;b&quot; &amp; c</span>\n"),
            "{html}"
        );
        assert!(
            html.contains(
                "<span class=\"s\">&quot;q </span><a class=\"ph\" href=\"#bp3-attr-X\">@X@</a><span class=\"s\">&quot;</span>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<mark class=\"ph\" title=\"no attribute Y in this build plan\">@Y@</mark>"
            ),
            "{html}"
        );
        assert!(html.ends_with("</code></pre>"), "{html}");
        assert_eq!(
            code_html(&[], "bp0", |_| true),
            "<pre tabindex=\"0\"><code></code></pre>"
        );
    }
}
