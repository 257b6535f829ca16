//! Read → write → read of the real reference bundles.
use crate::common;
use common::*;
use i3s_bundle::bundle::{ReadOptions, read_bundle, verify::verify, write_bundle};

#[test]
fn reference_bundles_round_trip_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for name in REFERENCE_BUNDLES {
        let original = read_bundle(&fixture(name), &ReadOptions::default()).unwrap();
        assert!(
            verify(&original).is_clean(),
            "{name}: {:?}",
            verify(&original).problems
        );
        let out = dir.path().join(name);
        write_bundle(&original.bundle, &out).unwrap();
        let again = read_bundle(&out, &ReadOptions::default()).unwrap();
        assert_eq!(original.bundle, again.bundle, "{name}: model changed");
        for (entry, bytes) in &original.raw {
            if entry.ends_with(".json") || entry == "MANIFEST.MF" || entry.ends_with("sum") {
                assert_eq!(
                    String::from_utf8_lossy(
                        again
                            .raw_entry(entry)
                            .unwrap_or_else(|| panic!("{name}: {entry} missing"))
                    ),
                    String::from_utf8_lossy(bytes),
                    "{name}: {entry} differs"
                );
            }
        }
        let report = verify(&again);
        assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
        unzip_test(&out).unwrap();
        python_zip_check(&out).unwrap();
        // A third, independent reader: the zip crate, entry by entry against the original bytes.
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(archive.len(), original.entries.len());
        for (entry, bytes) in &original.raw {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut archive.by_name(entry).unwrap(), &mut data).unwrap();
            assert_eq!(&data, bytes, "{name}: {entry} as read by the zip crate");
        }
    }
}

/// The rewritten zip has the appliance's header layout, as Python's zipfile sees it.
#[test]
fn rewritten_zip_headers_match_the_appliance_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.zip");
    let original = read_bundle(&fixture(FEDORA_2018_06), &ReadOptions::default()).unwrap();
    write_bundle(&original.bundle, &out).unwrap();
    let script = r#"
import sys, zipfile
def headers(path):
    return [(i.filename, i.compress_type, i.flag_bits, i.create_system, i.create_version, i.extract_version, i.date_time, i.external_attr, i.extra, i.comment) for i in zipfile.ZipFile(path).infolist()]
a, b = headers(sys.argv[1]), headers(sys.argv[2])
sys.exit(0 if a == b else "%r\n!=\n%r" % (a, b))
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(fixture(FEDORA_2018_06))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "zip headers differ from the appliance's");
}
