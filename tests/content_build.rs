//! The repository's own bundles build with the real pipeline, pass `verify`, `unzip -t` and
//! Python's zipfile, and carry what the issue asks: one deployment plan per deploy build plan
//! naming the OS profile's golden image, typed and described attributes, no secret defaults.
use crate::common;
use crate::content_support;
use content_support::*;

use i3s_bundle::build::{BuildOptions, build};
use i3s_bundle::bundle::{ReadOptions, read_bundle, verify::verify};

#[test]
fn repository_bundles_build_and_verify() {
    let out = tempfile::tempdir().unwrap();
    let report = build(&BuildOptions {
        root: root(),
        out: Some(out.path().to_path_buf()),
        force: true,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("build of the repository's bundles failed:\n{e}"));
    assert!(
        report.warnings.is_empty(),
        "build warnings: {:?}",
        report.warnings
    );
    assert_eq!(report.bundles.len(), bundles().len());
    assert!(report.bundles.len() >= 4, "{:?}", report.bundles);
    for b in &report.bundles {
        let path = if b.path.is_absolute() {
            b.path.clone()
        } else {
            root().join(&b.path)
        };
        let loaded = read_bundle(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let verified = verify(&loaded);
        let errors: Vec<_> = verified.errors().collect();
        assert!(
            errors.is_empty(),
            "{}: verify errors {errors:?}",
            path.display()
        );
        if common::require_tool("unzip") {
            common::unzip_test(&path).unwrap();
        }
        common::python_zip_check(&path).unwrap();
    }
}

#[test]
fn bundles_hold_the_expected_use_cases() {
    let compiled = compiled();
    let names = |stem: &str| -> Vec<(String, String)> {
        let (_, b) = compiled.iter().find(|(s, _)| s == stem).unwrap();
        b.build_plans
            .iter()
            .map(|p| (p.name.clone(), p.build_plan_type.clone()))
            .collect()
    };
    let centos = names("centos7.4");
    for (want, kind) in [
        ("capture", "capture"),
        ("Docker CE", "deploy"),
        ("OpenStack all-in-one", "deploy"),
        ("OpenStack compute", "deploy"),
        ("Kubernetes master", "deploy"),
        ("Kubernetes worker", "deploy"),
    ] {
        assert!(
            centos.iter().any(|(n, k)| n.ends_with(want) && k == kind),
            "CentOS 7.4 lacks {want} ({kind}): {centos:?}"
        );
    }
    let fedora = names("fedora27");
    assert!(
        fedora
            .iter()
            .any(|(n, k)| n.ends_with("capture") && k == "capture"),
        "{fedora:?}"
    );
    assert!(
        fedora
            .iter()
            .any(|(n, k)| n.ends_with("Docker CE") && k == "deploy"),
        "{fedora:?}"
    );
    // Every bundle, the current releases' included (issue #12): capture and a container host
    // (Docker CE, or Docker from the distribution). Enumerated, so a new OS's bundle is covered.
    let stems: Vec<String> = compiled.iter().map(|(s, _)| s.clone()).collect();
    assert!(stems.len() >= 5, "{stems:?}");
    for stem in &stems {
        let plans = names(stem);
        assert!(
            plans
                .iter()
                .any(|(n, k)| n.ends_with("capture") && k == "capture"),
            "{stem} lacks capture: {plans:?}"
        );
        assert!(
            plans.iter().any(
                |(n, k)| (n.ends_with(" Docker CE") || n.ends_with(" Docker")) && k == "deploy"
            ),
            "{stem} lacks a container host (Docker CE or Docker): {plans:?}"
        );
    }
}

#[test]
fn one_deployment_plan_per_deploy_build_plan_naming_the_golden_image() {
    let sources = bundles();
    for (stem, source) in &sources {
        let golden = profile(&source.bundle.os)["golden_image"]
            .as_str()
            .unwrap()
            .to_string();
        let deploy: Vec<&str> = source
            .build_plan
            .iter()
            .filter(|p| p.kind == "deploy")
            .map(|p| p.name.as_str())
            .collect();
        let mut planned: Vec<&str> = source
            .deployment_plan
            .iter()
            .map(|d| d.build_plan.as_str())
            .collect();
        planned.sort();
        let mut expected = deploy.clone();
        expected.sort();
        assert_eq!(
            planned, expected,
            "{stem}: deployment plans must cover each deploy build plan once"
        );
        for d in &source.deployment_plan {
            assert_eq!(
                d.golden_image.as_bool(),
                Some(true),
                "{stem}: {} must use the profile's golden image ({golden})",
                d.name
            );
        }
    }
    // The built bundle names the golden image for publish to attach.
    let project = i3s_bundle::build::Project::load(&root()).unwrap();
    for stem in sources.keys() {
        let compiled = i3s_bundle::build::compile_bundle(
            &project,
            &root().join("bundles-src").join(format!("{stem}.toml")),
        )
        .unwrap();
        let golden = profile(&sources[stem].bundle.os)["golden_image"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            compiled.bundle.deployment_plans.len(),
            sources[stem].deployment_plan.len()
        );
        for d in &compiled.bundle.deployment_plans {
            assert!(
                compiled
                    .attachments
                    .iter()
                    .any(|a| a.deployment_plan == d.name && a.golden_image == golden),
                "{stem}: {} does not attach {golden}: {:?}",
                d.name,
                compiled.attachments
            );
        }
    }
}

#[test]
fn built_attributes_are_typed_described_and_secrets_have_no_value() {
    let registry = registry();
    for (stem, bundle) in compiled() {
        for plan in &bundle.build_plans {
            for attr in &plan.custom_attributes {
                let entry = registry
                    .get(&attr.name)
                    .unwrap_or_else(|| panic!("{stem}: {} not in the registry", attr.name));
                assert_eq!(
                    attr.attribute_type.as_str(),
                    entry.kind,
                    "{stem}: {}",
                    attr.name
                );
                assert!(
                    attr.description.as_deref().is_some_and(|d| !d.is_empty()),
                    "{stem}: {} undescribed",
                    attr.name
                );
                if entry.is_secret() {
                    assert!(
                        attr.default_value().is_none(),
                        "{stem}: secret {} has a default",
                        attr.name
                    );
                }
            }
        }
    }
}
