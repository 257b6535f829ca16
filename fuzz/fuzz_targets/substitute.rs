//! Placeholder substitution on arbitrary scripts and values: it may refuse, it must never panic,
//! and whatever it accepts parses to the structure the script has with a plain word in place of
//! every placeholder (the same commands, argument counts, here-documents, no host construct).
#![no_main]
use i3s_bundle::guestfish::{self, substitute};
use libfuzzer_sys::fuzz_target;

fn shape(text: &str) -> Vec<(usize, String, usize, Option<Option<usize>>, bool)> {
    guestfish::parse(text)
        .commands
        .into_iter()
        .map(|c| (c.line, c.name, c.args.len(), c.heredoc.map(|h| h.end_line), c.host_shell.is_some()))
        .collect()
}

fuzz_target!(|input: (&str, &str)| {
    let (script, value) = input;
    if let Ok(text) = substitute::substitute(script, &|_| Some(value.to_string())) {
        let plain = i3s_bundle::placeholder::substitute(script, &|_| Some("i3sValue".into()))
            .unwrap_or_default();
        assert_eq!(shape(&text), shape(&plain), "value {value:?} changed {script:?}");
    }
});
