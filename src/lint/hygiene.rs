//! Format hygiene for zips (I3S100–I3S105): what `verify` checks, plus warnings for the SHA-1
//! flavour, a checksum line for the checksum file itself, non-ASCII text, trailing newlines and
//! other deviations from the appliance's form.
use super::target::Target;
use super::{ArtifactKind, Origin, Sink};
use crate::bundle::verify::{self, Severity as VerifySeverity};
use crate::bundle::{ChecksumFlavour, LoadedBundle};

pub fn check(target: &Target, sink: &mut Sink) {
    let Some(loaded) = target.loaded else { return };
    let zip = &loaded.path;
    let bundle_name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let at_entry = |sink: &mut Sink, id: &str, entry: &str, message: String| {
        sink.at_artifact(
            id,
            ArtifactKind::Bundle,
            &bundle_name,
            &Origin::zip_entry(zip, entry),
            message,
        )
    };

    check_verify(loaded, &at_entry, sink);

    for sums in &loaded.checksum_files {
        let own = sums.flavour.file_name();
        if sums.flavour == ChecksumFlavour::Sha1 {
            at_entry(
                sink,
                "I3S101",
                own,
                format!("{own}: SHA-1 checksums (the OneView 3.00 flavour)"),
            );
        }
        for line in sums.lines.iter().filter(|l| l.entry == own) {
            at_entry(
                sink,
                "I3S102",
                own,
                format!("{own}: line {} lists the checksum file itself", line.line),
            );
        }
        if !sums.ends_with_newline && !sums.lines.is_empty() {
            at_entry(
                sink,
                "I3S105",
                own,
                format!("{own}: does not end with a newline"),
            );
        }
        if verify::lines_out_of_order(loaded, sums) {
            at_entry(
                sink,
                "I3S105",
                own,
                format!("{own}: lines are not in zip entry order"),
            );
        }
    }

    check_manifest(loaded, &at_entry, sink);
    check_scripts(target, sink);
}

/// Reports a finding on a zip entry of the bundle being checked.
type AtEntry<'a> = dyn Fn(&mut Sink, &str, &str, String) + 'a;

fn check_verify(loaded: &LoadedBundle, at_entry: &AtEntry, sink: &mut Sink) {
    // What verify reports as errors, except the reference checks the structure rules own and the
    // attribute names I3S023 owns.
    for problem in verify::verify(loaded).problems {
        if problem.severity == VerifySeverity::Error
            && !matches!(
                problem.area,
                verify::Area::Reference | verify::Area::Attribute | verify::Area::Script
            )
        {
            at_entry(
                sink,
                "I3S100",
                &problem.entry,
                format!("{}: {}", problem.entry, problem.message),
            );
        }
    }
}

/// I3S104 and I3S105 on MANIFEST.MF, the entries and the zip's name; I3S104 on JSON entries.
fn check_manifest(loaded: &LoadedBundle, at_entry: &AtEntry, sink: &mut Sink) {
    let zip = &loaded.path;
    let quirks = &loaded.manifest_quirks;
    if quirks.trailing_newline {
        at_entry(
            sink,
            "I3S104",
            "MANIFEST.MF",
            "MANIFEST.MF ends with a newline".into(),
        );
    }
    if quirks.out_of_order {
        at_entry(
            sink,
            "I3S105",
            "MANIFEST.MF",
            "MANIFEST.MF: keys are not in the appliance's order".into(),
        );
    }
    for key in &quirks.unknown_keys {
        at_entry(
            sink,
            "I3S105",
            "MANIFEST.MF",
            format!("MANIFEST.MF: unknown key {key:?}"),
        );
    }
    for entry in loaded.unknown_entries() {
        at_entry(
            sink,
            "I3S105",
            &entry.name,
            format!("{}: unknown entry (not an artifact)", entry.name),
        );
    }
    let stem = zip
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let artifact_name = &loaded.bundle.manifest.artifact_name;
    if !artifact_name.is_empty() && *artifact_name != stem {
        at_entry(
            sink,
            "I3S105",
            "MANIFEST.MF",
            format!(
                "the zip is named {stem:?} but MANIFEST.MF says Artifact Name {artifact_name:?}; the appliance names the bundle after the file"
            ),
        );
    }
    for (name, bytes) in &loaded.raw {
        if name.ends_with(".json") && bytes.last() == Some(&b'\n') {
            at_entry(sink, "I3S104", name, format!("{name} ends with a newline"));
        }
    }
}

/// I3S104 and I3S103 on plan scripts: a trailing newline, non-ASCII characters.
fn check_scripts(target: &Target, sink: &mut Sink) {
    for view in &target.scripts {
        let content = &view.script.content;
        if content.ends_with('\n') {
            sink.at_artifact(
                "I3S104",
                ArtifactKind::PlanScript,
                &view.script.name,
                &view.origin,
                format!(
                    "plan script {:?}: content ends with a newline",
                    view.script.name
                ),
            );
        }
        let non_ascii: Vec<(usize, usize, char)> = content
            .split('\n')
            .enumerate()
            .flat_map(|(i, line)| {
                line.chars()
                    .enumerate()
                    .filter(|(_, c)| !c.is_ascii())
                    .map(move |(col, c)| (i + 1, col + 1, c))
            })
            .collect();
        if let Some(&(line, column, c)) = non_ascii.first() {
            sink.at_script(
                "I3S103",
                view,
                line,
                Some(column),
                format!(
                    "plan script {:?}: non-ASCII character {c:?} (U+{:04X}){}",
                    view.script.name,
                    c as u32,
                    if non_ascii.len() > 1 {
                        format!(", and {} more", non_ascii.len() - 1)
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
}
