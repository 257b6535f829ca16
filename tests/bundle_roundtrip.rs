//! Read → write → read of the real reference bundles.
mod common;
use common::*;
use i3s_bundle::bundle::{ReadOptions, read_bundle, verify::verify, write_bundle};

#[test]
fn reference_bundles_round_trip_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for name in REFERENCE_BUNDLES {
        let original = read_bundle(&fixture(name), &ReadOptions::default()).unwrap();
        assert!(verify(&original).is_clean(), "{name}: {:?}", verify(&original).problems);
        let out = dir.path().join(name);
        write_bundle(&original.bundle, &out).unwrap();
        let again = read_bundle(&out, &ReadOptions::default()).unwrap();
        assert_eq!(original.bundle, again.bundle, "{name}: model changed");
        for (entry, bytes) in &original.raw {
            if entry.ends_with(".json") || entry == "MANIFEST.MF" || entry.ends_with("sum") {
                assert_eq!(
                    String::from_utf8_lossy(again.raw_entry(entry).unwrap_or_else(|| panic!("{name}: {entry} missing"))),
                    String::from_utf8_lossy(bytes),
                    "{name}: {entry} differs"
                );
            }
        }
        let report = verify(&again);
        assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
        unzip_test(&out).unwrap();
        python_zip_check(&out).unwrap();
    }
}
