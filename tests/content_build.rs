//! The repository's own bundles build with the real pipeline, verify, and declare exactly the
//! attributes their plan scripts use.
mod content_support;
use content_support::*;

use i3s_bundle::build::{BuildOptions, build};

fn built() -> (tempfile::TempDir, i3s_bundle::build::BuildReport) {
    let out = tempfile::tempdir().unwrap();
    let report = build(&BuildOptions { root: root(), out: Some(out.path().to_path_buf()), force: true, ..Default::default() })
        .unwrap_or_else(|e| panic!("build of the repository's bundles failed:\n{e}"));
    (out, report)
}

#[test]
fn repository_bundles_build() {
    let (_out, report) = built();
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    assert_eq!(report.bundles.len(), bundles().len());
}
