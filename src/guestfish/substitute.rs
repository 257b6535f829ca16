//! Placeholder substitution that cannot change what a plan script does.
//!
//! Image Streamer substitutes `@NAME@` placeholders into the plan script's *text* before guestfish
//! parses it, and `run` does the same. A value is therefore code: `a | touch /x` turns an
//! argument into a host pipe, a quote or a blank changes the argument count, a value equal to a
//! here-document's tag ends it early. [`substitute`] accepts a substitution only when the script
//! parses to the same structure as with every placeholder replaced by a plain word: the same
//! commands on the same lines, with the same number of arguments, the same here-documents, no new
//! host construct and no new syntax problem. Otherwise it names the attribute(s) whose value
//! changed the structure, and what changed.
use super::parse::{self, Script};
use crate::placeholder::{self, Placeholder};

/// A word no value check can object to and that guestfish reads as one plain argument.
const NEUTRAL: &str = "i3sValue";

/// Why a substitution was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Placeholders without a value or a default.
    Missing(Vec<Placeholder>),
    /// Values that change the script's structure: the placeholders responsible, the script line
    /// where the structure first differs, and what differs.
    Structure {
        placeholders: Vec<Placeholder>,
        line: usize,
        change: String,
    },
}

/// Substitutes `lookup`'s values (then placeholder defaults) into `text`, refusing any value that
/// changes the parsed structure.
pub fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Refusal> {
    let substituted = placeholder::substitute(text, lookup).map_err(Refusal::Missing)?;
    let reference = neutral(text, &|_| None);
    let Some((line, change)) = first_difference(&shape(&reference), &shape(&substituted)) else {
        return Ok(substituted);
    };
    // Blame the placeholders whose value alone changes the structure (one re-parse each; plan
    // scripts are small). Values that only break it together are all blamed.
    let all = placeholder::scan(text);
    let mut blamed: Vec<Placeholder> = all
        .iter()
        .filter(|p| {
            let alone = neutral(text, &|key| {
                (key == p.key()).then(|| lookup(key).or_else(|| p.default.clone()))?
            });
            first_difference(&shape(&reference), &shape(&alone)).is_some()
        })
        .cloned()
        .collect();
    if blamed.is_empty() {
        blamed = all;
    }
    blamed.dedup_by(|a, b| a.key() == b.key());
    Err(Refusal::Structure {
        placeholders: blamed,
        line,
        change,
    })
}

/// `text` with the placeholders `keep` gives a value for substituted, every other one replaced
/// by [`NEUTRAL`].
fn neutral(text: &str, keep: &dyn Fn(&str) -> Option<String>) -> String {
    placeholder::substitute(text, &|key| {
        Some(keep(key).unwrap_or_else(|| NEUTRAL.to_string()))
    })
    .unwrap_or_else(|_| text.to_string())
}

/// What must not change: per command its line, flag, name, argument count, here-document
/// (tag and extent) and host construct; per problem its line and kind.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    commands: Vec<CommandShape>,
    problems: Vec<(usize, String)>,
}

#[derive(Debug, PartialEq, Eq)]
struct CommandShape {
    line: usize,
    ignore_errors: bool,
    name: String,
    args: usize,
    heredoc: Option<(String, Option<usize>)>,
    host_shell: Option<&'static str>,
}

fn shape(text: &str) -> Shape {
    let Script { commands, problems } = parse::parse(text);
    Shape {
        commands: commands
            .into_iter()
            .map(|c| CommandShape {
                line: c.line,
                ignore_errors: c.ignore_errors,
                args: c.args.len(),
                heredoc: c.heredoc.map(|h| (h.tag, h.end_line)),
                host_shell: c.host_shell.map(|h| h.form()),
                name: c.name,
            })
            .collect(),
        problems: problems
            .into_iter()
            .map(|p| (p.line, format!("{:?}", p.kind)))
            .collect(),
    }
}

/// The line where `actual` first departs from `expected`, and how.
fn first_difference(expected: &Shape, actual: &Shape) -> Option<(usize, String)> {
    for (i, want) in expected.commands.iter().enumerate() {
        let Some(got) = actual.commands.get(i) else {
            return Some((want.line, format!("the command `{}` disappears", want.name)));
        };
        if let Some(change) = command_change(want, got) {
            return Some((want.line.min(got.line), change));
        }
    }
    if let Some(extra) = actual.commands.get(expected.commands.len()) {
        return Some((
            extra.line,
            format!("a new command `{}` appears", extra.name),
        ));
    }
    if expected.problems != actual.problems {
        let (line, kind) = actual
            .problems
            .iter()
            .find(|p| !expected.problems.contains(p))
            .or(expected.problems.first())
            .cloned()
            .unwrap_or((1, String::new()));
        return Some((line, format!("a syntax problem appears ({kind})")));
    }
    None
}

fn command_change(want: &CommandShape, got: &CommandShape) -> Option<String> {
    if got.host_shell.is_some() && want.host_shell.is_none() {
        return Some(format!(
            "`{}` gets a `{}`, which hands the rest of the line to a host shell command",
            want.name,
            got.host_shell.unwrap_or_default()
        ));
    }
    if want.line != got.line || want.name != got.name {
        return Some(format!(
            "the command `{}` on line {} becomes `{}` on line {}",
            want.name, want.line, got.name, got.line
        ));
    }
    if want.args != got.args {
        return Some(format!(
            "`{}` gets {} argument(s) instead of {} (a value with blanks or quotes, or an empty one)",
            want.name, got.args, want.args
        ));
    }
    if want.heredoc != got.heredoc {
        return Some(format!(
            "the here-document of `{}` changes (a value equal to its tag ends it early)",
            want.name
        ));
    }
    if want.ignore_errors != got.ignore_errors || want.host_shell != got.host_shell {
        return Some(format!("`{}` changes form", want.name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let values: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        }
    }

    const SCRIPT: &str = "mount /dev/cl/root /\nwrite /etc/hostname \"@HOST@\"\nmkdir-p @DIR@\n\
                          upload -<<END /etc/motd\nwelcome to @HOST@\n@BODY@\nEND\numount /";

    fn blamed(values: &[(&str, &str)]) -> (Vec<String>, usize) {
        match substitute(SCRIPT, &with(values)) {
            Err(Refusal::Structure {
                placeholders, line, ..
            }) => (placeholders.iter().map(|p| p.key()).collect(), line),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn plain_values_pass() {
        let out = substitute(
            SCRIPT,
            &with(&[
                ("HOST", "node 1 'x'"),
                ("DIR", "/opt/x"),
                ("BODY", "END2 | a"),
            ]),
        )
        .unwrap();
        assert!(out.contains("\"node 1 'x'\"") && out.contains("\nEND2 | a\n"));
    }

    #[test]
    fn values_that_change_the_structure_are_refused_and_blamed() {
        let ok = [("HOST", "h"), ("DIR", "/d"), ("BODY", "b")];
        let case = |key: &str, value: &str| {
            let mut values = ok.to_vec();
            values.retain(|(k, _)| *k != key);
            values.push((key, value));
            blamed(&values)
        };
        assert_eq!(case("DIR", "/d | touch /tmp/x"), (vec!["DIR".into()], 3));
        assert_eq!(case("DIR", "/a /b"), (vec!["DIR".into()], 3));
        assert_eq!(case("DIR", ""), (vec!["DIR".into()], 3));
        assert_eq!(
            case("HOST", "x\" | touch /tmp/y \""),
            (vec!["HOST".into()], 2)
        );
        assert_eq!(case("HOST", "a\"b"), (vec!["HOST".into()], 2));
        assert_eq!(case("BODY", "END").0, vec!["BODY".to_string()]);
    }

    #[test]
    fn missing_values_are_reported_as_such() {
        match substitute(SCRIPT, &with(&[("HOST", "h")])) {
            Err(Refusal::Missing(missing)) => {
                let keys: Vec<String> = missing.iter().map(|p| p.key()).collect();
                assert_eq!(keys, ["DIR", "BODY"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_placeholder_as_a_whole_line_cannot_become_a_command() {
        let script = "mount /dev/cl/root /\nupload -<<EOF /x\n@LINE@\nEOF";
        assert!(substitute(script, &with(&[("LINE", "text")])).is_ok());
        let refused = substitute(script, &with(&[("LINE", "EOF")]));
        assert!(
            matches!(refused, Err(Refusal::Structure { .. })),
            "{refused:?}"
        );
    }
}
